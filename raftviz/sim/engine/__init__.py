"""The simulation engine: scheduler, network, clients, the cluster and the command dispatcher."""
