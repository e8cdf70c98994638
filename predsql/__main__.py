from predsql.entry import main

main()
