from pace_linkage.cli import main

main()
