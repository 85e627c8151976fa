"""Live checkers: Raft's Figure 3 invariants, the Paxos invariants, linearizability."""
