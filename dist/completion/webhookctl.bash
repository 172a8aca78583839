# bash completion for webhookctl and webhookd. It asks the program itself
# (`--help` of the command typed so far), so it never falls behind the
# commands and flags the binary has. Installed by `meson install` into
# share/bash-completion/completions/ (as webhookctl and webhookd).

_webhookd_cli_section() {
    # The names listed under a help section ("Subcommands:" or "Options:").
    sed -n "/^$1:/,/^\$/p" | sed '1d' | awk 'NF { print $1 }' | tr ',' '\n' | sed -n '/^[a-z-]/p'
}

_webhookd_cli() {
    local program=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local -a cmdpath=()
    local i w help
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        [[ $w == -* ]] && continue
        help=$("$program" "${cmdpath[@]}" --help 2>/dev/null)
        if _webhookd_cli_section Subcommands <<<"$help" | grep -qx -- "$w"; then
            cmdpath+=("$w")
        fi
    done
    case $prev in
    --db | --data | --batch | --ca-bundle | --secret-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --status) COMPREPLY=($(compgen -W "pending in_progress failed rate_limited delivered dead_letter" -- "$cur")); return ;;
    --retry-schedule) COMPREPLY=($(compgen -W "exponential standard-webhooks svix" -- "$cur")); return ;;
    esac
    help=$("$program" "${cmdpath[@]}" --help 2>/dev/null)
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u)" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(_webhookd_cli_section Subcommands <<<"$help")" -- "$cur"))
    fi
}

complete -F _webhookd_cli webhookctl webhookd
