import TollgateCLI

await TollgateCLI.main(importedExample)
