from jokemine.cli import main

main()
