"""Running sessions' engine work: the in-process driver, the batching scheduler and its lanes, metrics."""
