#!/bin/sh
# A stand-in for a coding agent: it reads the prompt, "reviews" the issue and
# emits an event. Replace `command` in hookline.toml with your agent CLI.
set -eu
prompt=$(cat)
lines=$(printf '%s\n' "$prompt" | wc -l | tr -d ' ')
echo "demo agent: run $HOOKLINE_RUN_ID of $HOOKLINE_AGENT, prompt of $lines lines"
echo "demo agent: $DEMO_GREETING"
printf '%s\n' "$prompt" | head -n 3
printf '# Triage notes\n\n%s\n' "$prompt" > triage.md
printf '{"type":"code.reviewed","data":{"summary":"Looked at the issue; see triage.md","prompt_lines":%s}}\n' "$lines" >> "$HOOKLINE_EVENTS_FILE"
