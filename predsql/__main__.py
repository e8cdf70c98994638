from predsql.cli import main

main()
