"""What every stage runs on: storage (local paths and URLs, atomic writes), executors (local
processes, Ray), the shard-job protocol (markers, resume, completion), progress bars, DuckDB."""
