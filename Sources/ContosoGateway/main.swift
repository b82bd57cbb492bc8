import TollgateCLI

await TollgateCLI.main(contoso)
