"""Evaluation against public benchmarks (NAB, LogChunks): scorers and runners."""
