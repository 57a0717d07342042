"""The bench's record turned into statistics, verdicts, tables and plots; imports neither torch nor evaluation."""
