import TollgateCLI

await TollgateCLI.main()
