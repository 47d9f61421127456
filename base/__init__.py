"""What every stage stands on: settings, metrics, logs, topic names, the broker, the process
helpers. Below the stages (streams, producers, sinks), above the contract (schemas)."""
