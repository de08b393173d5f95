from tiegraph.cli.main import main

main()
