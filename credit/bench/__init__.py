"""`credit bench`: throughput, latency, baselines (naive Faust, consume + decode ceiling,
the quixstreams peer), the pipeline profile and reads at scale."""
