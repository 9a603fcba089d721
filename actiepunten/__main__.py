from actiepunten.cli import main

main()
