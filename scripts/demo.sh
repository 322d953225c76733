#!/bin/sh
# The main job end to end on the embedded defaults: validate the shipped library,
# open a plan for each example case as its case worker, walk it through approval
# by the case's supervisor and the client's agreement, record what its story
# describes, and evaluate each plan as of the case's date. Uses a fresh SQLite file
# in .demo/.
set -eu

SVCPLAN=${SVCPLAN:-svcplan}
DB=.demo/svcplan.db
mkdir -p .demo
rm -f "$DB" "$DB-wal" "$DB-shm"
export SVCPLAN_DB="$DB"

step() { printf '\n== %s\n' "$*"; }

step "Validate the template library (templates/ and rules/)"
"$SVCPLAN" validate templates rules

# case file | template | as-of date | case worker
for entry in \
    "foster-care-whitlock|foster-care-case-plan|2027-04-02|U-jmoreno" \
    "employment-reyes|wioa-individual-employment-plan|2027-09-15|U-spatel" \
    "home-care-nakamura|hcbs-person-centred-plan|2027-04-26|U-agarcia"
do
    name=${entry%%|*}; rest=${entry#*|}
    template=${rest%%|*}; rest=${rest#*|}
    as_of=${rest%%|*}; worker=${rest#*|}

    step "Open a $template plan for examples/cases/$name.yaml as $worker"
    opened=$("$SVCPLAN" --today "$as_of" plan new --template "$template" --case "examples/cases/$name.yaml" \
        --as "$worker")
    echo "$opened"
    plan=$(echo "$opened" | sed -n 's/^opened plan \([0-9]*\):.*/\1/p')

    step "Submit, approve and agree the plan, then record the story's progress (examples/progress/$name.yaml)"
    "$SVCPLAN" --today "$as_of" plan apply "$plan" "examples/progress/$name.yaml"

    if [ "$name" = foster-care-whitlock ]; then
        step "Try to add Evelyn Whitlock, a prospect, to the plan (must be rejected)"
        if "$SVCPLAN" --today "$as_of" participant add "$plan" P-5 --as "$worker"; then
            echo "demo: a prospect was added to the plan; the membership rules did not hold" >&2
            exit 1
        fi
        step "Make Hao Lin responsible for the school enrolment item"
        "$SVCPLAN" --today "$as_of" item assign "$plan" school-enrolment --responsibility U-hlin --as U-tbaker
    fi

    step "Evaluate plan $plan as of $as_of"
    "$SVCPLAN" evaluate "$plan" --as-of "$as_of"
done

step "Done: the plans are in $DB; try '$SVCPLAN --db $DB plan show 1'"
