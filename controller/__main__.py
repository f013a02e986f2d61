from controller.cli.root import main

main()
