from reconciler.simulator.cli import simulator_command

simulator_command()
