"""Speed, memory and quality benchmarks (run with ``python -m benchmarks`` or ``make bench``)."""
