from lepton_ci.cli import main

main()
