# Sourced by every script that `archspec bench --plan --slurm` writes (harness/planning/chain.sh): how a job
# waits for the runs it needs and how a training goes on past a job's time limit. The sourcing script sets
# `here` (this folder), `me` (its own name: here/$me.sbatch) and, for a training, `run` (its run folder).
#
# state/NAME.job holds the latest job of NAME's chain (submit.sh writes the first; a part that ends with its run
# unfinished queues the next and writes it); state/NAME.done says that NAME's run finished. A job that needs a
# run waits for that marker, not for a job id fixed in advance: however many parts a run takes, its evaluation
# and the trainings that start from it run after its last.

state="$here/state"

# submit NAME [sbatch options]: queue here/NAME.sbatch as the latest job of NAME's chain; prints the job id
submit() {
    local name=$1 id
    shift
    id=$(sbatch --parsable "$@" "$here/$name.sbatch")
    id=${id%%;*}  # --parsable prints "id" or "id;cluster"
    echo "$id" > "$state/$name.job.$$"
    mv -f "$state/$name.job.$$" "$state/$name.job"  # whole, never half-written, for a job reading it
    echo "$id"
}

# live JOB: is the job still queued or running?
live() {
    case "$(squeue -h -j "$1" -o %T 2> /dev/null)" in
        PENDING | RUNNING | CONFIGURING | COMPLETING | SUSPENDED | REQUEUE* | RESIZING) return 0 ;;
        *) return 1 ;;
    esac
}

# latest NAME: the latest job of NAME's chain, or "none"
latest() {
    cat "$state/$1.job" 2> /dev/null || echo none
}

# wait_for NAME...: returns once every NAME's run has finished. Else, while the latest job of a NAME's chain is
# queued or running, queues this job again after it and ends this one; where that chain ended unfinished, fails.
wait_for() {
    local name job next
    for name in "$@"; do
        while [ ! -f "$state/$name.done" ]; do
            job=$(latest "$name")
            if live "$job"; then
                next=$(submit "$me" --dependency=afterany:"$job")
                echo "$me: $name has not finished; waits for its job $job in job $next"
                exit 0
            fi
            if [ ! -f "$state/$name.done" ] && [ "$(latest "$name")" = "$job" ]; then  # no part queued since
                echo "$me: $name's last job $job ended before its run finished (see its log); not run" >&2
                exit 1
            fi
        done
    done
}

# stamp FILE: the file's modification time, or "none"
stamp() {
    stat -c %Y "$1" 2> /dev/null || echo none
}

# finish STATUS STAMP: after `archspec train` exited with STATUS, its checkpoint's stamp before it: a finished
# run is marked done; a run stopped with a newer checkpoint (the time limit's SIGTERM, a crash after a
# checkpoint) goes on in a new part after this job; one stopped without is not continued (it would fail again)
finish() {
    local next
    if [ "$1" = 0 ]; then
        touch "$state/$me.done"
        echo "$me: finished"
    elif [ "$(stamp "$run/checkpoint.pt")" != "$2" ]; then
        next=$(submit "$me" --dependency=afterany:"$SLURM_JOB_ID")
        echo "$me: stopped (status $1) with a newer checkpoint; goes on in job $next"
    else
        echo "$me: stopped (status $1) with no newer checkpoint; not continued" >&2
        exit "$1"
    fi
}
