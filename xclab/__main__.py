from xclab.cli import main

main()
