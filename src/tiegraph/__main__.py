from tiegraph.cli import main

main()
