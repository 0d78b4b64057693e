from onshore.cli import main

main()
