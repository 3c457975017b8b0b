"""Attacks a raid model's user embeddings with scikit-learn's attackers.

Usage: /usr/bin/python3 scripts/attack_eval.py MODEL [--attributes TABLE]
           [--attribute COL] [--folds 5] [--seeds 1,2,3] [--shuffled] [--json]

An independent judge of leakage, stronger than raid's own audit: logistic
regression, an MLP (100 ReLU units), k nearest neighbours (k = 15), QDA
(reg_param 0.1), an RBF-kernel SVM (C = 1, gamma 'scale') and histogram
gradient-boosted trees, each under stratified k-fold cross-validation with
class-balanced (downsampled) training folds, standardised on the training
fold.  For each attacker it prints the balanced accuracy averaged over the
seeds (which change the folds and the attackers' initialisation) and its
distance from chance, two-sided (an attacker below chance leaks too: it
flips its predictions).  With --shuffled it also attacks a seeded random
permutation of the labels: the noise floor the same data shows without any
signal.

The attribute is the one the model was trained against, or --attributes and
--attribute (joined on the model's user_col).  Connects with the usual PG*
environment variables.  Needs Debian's python3-sklearn, python3-numpy and
python3-psycopg2 (use /usr/bin/python3).
"""
import argparse
import json
import sys
import warnings

import numpy as np
import psycopg2
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

warnings.filterwarnings("ignore", category=ConvergenceWarning)
warnings.filterwarnings("ignore", message="Variables are collinear")

ATTACKERS = {
    "logistic": lambda seed: LogisticRegression(max_iter=1000),
    "mlp": lambda seed: MLPClassifier(hidden_layer_sizes=(100,), early_stopping=True,
                                      random_state=seed, max_iter=200),
    "knn": lambda seed: KNeighborsClassifier(n_neighbors=15),
    "qda": lambda seed: QuadraticDiscriminantAnalysis(reg_param=0.1),
    "svm_rbf": lambda seed: SVC(C=1.0, kernel="rbf", gamma="scale"),
    "gbdt": lambda seed: HistGradientBoostingClassifier(random_state=seed),
}


def load(cur, model, attributes, attribute):
    """The model's user embeddings and the attribute's classes (labelled users only)."""
    cur.execute("""SELECT model_id, attributes_table, attribute_col, user_col FROM raid.models
                   WHERE name = %s AND owner = raid.caller()""", (model,))
    row = cur.fetchone()
    if row is None:
        sys.exit(f"model {model!r} does not exist")
    model_id, rec_attributes, rec_attribute, user_col = row
    attributes = attributes or rec_attributes
    attribute = attribute or rec_attribute
    if attributes is None or attribute is None:
        sys.exit(f"model {model!r} was trained without attributes: name them")
    if "," in attribute:
        sys.exit(f"model {model!r} protects several attributes ({attribute}): name one with --attribute")
    cur.execute("SELECT pg_catalog.quote_ident(%s), pg_catalog.quote_ident(%s)", (attribute, user_col))
    attr_q, user_q = cur.fetchone()
    cur.execute(f"""SELECT e.embedding, a.{attr_q}::text
                    FROM raid.user_embeddings e JOIN {attributes} a ON a.{user_q} = e.user_id
                    WHERE e.model_id = %s AND a.{attr_q} IS NOT NULL
                    ORDER BY e.user_id""", (model_id,))
    rows = cur.fetchall()
    X = np.array([emb for emb, _ in rows], dtype=np.float64)
    labels = sorted({lab for _, lab in rows})
    y = np.array([labels.index(lab) for _, lab in rows])
    return X, y, labels


def balanced(train, y, rng):
    """Downsamples each class of a training fold to the smallest class."""
    classes = np.unique(y[train])
    smallest = min(int(np.sum(y[train] == c)) for c in classes)
    keep = [rng.choice(train[y[train] == c], smallest, replace=False) for c in classes]
    return np.sort(np.concatenate(keep))


def attack(X, y, folds, seed, name):
    """Mean balanced accuracy of one attacker over stratified folds."""
    rng = np.random.default_rng(seed)
    scores = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        train = balanced(train, y, rng)
        scaler = StandardScaler().fit(X[train])
        clf = ATTACKERS[name](seed).fit(scaler.transform(X[train]), y[train])
        scores.append(balanced_accuracy_score(y[test], clf.predict(scaler.transform(X[test]))))
    return float(np.mean(scores))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--attributes")
    ap.add_argument("--attribute")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--attackers", default=",".join(ATTACKERS))
    ap.add_argument("--shuffled", action="store_true", help="also attack shuffled labels")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.attackers.split(",")

    cur = psycopg2.connect("").cursor()
    X, y, labels = load(cur, args.model, args.attributes, args.attribute)
    chance = 1.0 / len(labels)
    result = {"model": args.model, "users": len(y), "classes": labels, "chance": chance,
              "seeds": seeds, "attackers": {}}
    for name in names:
        bacc = float(np.mean([attack(X, y, args.folds, s, name) for s in seeds]))
        entry = {"balanced_accuracy": bacc, "distance": abs(bacc - chance)}
        if args.shuffled:
            floor = []
            for s in seeds:
                y_shuffled = np.random.default_rng(1000 + s).permutation(y)
                floor.append(attack(X, y_shuffled, args.folds, s, name))
            entry["shuffled_balanced_accuracy"] = float(np.mean(floor))
            entry["shuffled_distance"] = abs(float(np.mean(floor)) - chance)
        result["attackers"][name] = entry
    strongest = max(result["attackers"], key=lambda n: result["attackers"][n]["distance"])
    result["strongest"] = strongest
    result["max_distance"] = result["attackers"][strongest]["distance"]

    if args.json:
        print(json.dumps(result))
        return
    print(f"model {args.model}: {len(y)} users, classes {labels}, chance {chance:.3f}, "
          f"seeds {seeds}, {args.folds} folds")
    head = f"{'attacker':10} {'BAcc':>7} {'|d|':>7}"
    print(head + (f" {'shuffled':>9} {'|d|':>7}" if args.shuffled else ""))
    for name, e in result["attackers"].items():
        line = f"{name:10} {e['balanced_accuracy']:7.3f} {e['distance']:7.3f}"
        if args.shuffled:
            line += f" {e['shuffled_balanced_accuracy']:9.3f} {e['shuffled_distance']:7.3f}"
        print(line)
    print(f"strongest: {strongest} ({result['max_distance']:.3f} from chance)")


if __name__ == "__main__":
    main()
