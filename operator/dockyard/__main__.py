"""`python -m dockyard`: the same CLI as the `dockyard` command."""

from dockyard.cli.startup import main

if __name__ == "__main__":
    main()
