"""Costing a suite before it runs: device figures, the cost model, the schedule, Slurm scripts and the Gantt chart."""
