"""Experiments run on the engine: the Raft paper's Figure 16, Raft vs Multi-Paxos."""
