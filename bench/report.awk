# Report of bench/run.sh. Input lines: case clients round tps.
# Prints the median TPS per case and clients, then the ratios and targets.
# Variables: small, large (key counts of the two databases).

function median(key,    n, i, j, t, v) {
    n = split(vals[key], v, " ")
    for (i = 2; i <= n; i++) {          # insertion sort, n is small
        t = v[i] + 0
        for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]
        v[j + 1] = t
    }
    if (n == 0) return -1
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function med(name, c) { return ((name SUBSEP c) in vals) ? median(name SUBSEP c) : -1 }
function fmt(x) { return x < 0 ? "n/a" : sprintf("%.0f", x) }

# ratio LABEL NUM DEN TARGET(0: none)
function ratio(label, num, den, target,    r, verdict) {
    if (num < 0 || den <= 0) { printf "  %-58s %8s\n", label, "n/a"; return }
    r = num / den
    verdict = ""
    if (target > 0) {
        verdict = sprintf("target >= %.2f: %s", target, r >= target ? "met" : "NOT MET")
        targets++
        if (r >= target) met++
    }
    printf "  %-58s %8.3f   %s\n", label, r, verdict
}

{
    key = $1 SUBSEP $2
    if (!(key in vals)) order[++ncases] = key
    vals[key] = vals[key] " " $4
}

END {
    desc["select1"] = "SELECT 1 (ceiling)"
    desc["plain_hot"] = "plain SQL digest lookup, one key"
    desc["verify_hot"] = "apikey_verify, one key, scope + address"
    desc["verify_hot_notrack"] = "  the same, usage tracking off"
    desc["verify_hot_limited"] = "  the same key with a rate limit"
    desc["verify_hot_counted"] = "  the same key, usage counted"
    desc["plain_random_1k"] = "plain lookup, random key of " small
    desc["verify_random_1k"] = "apikey_verify, random key of " small
    desc["verify_random_1k_notrack"] = "  the same, usage tracking off"
    desc["plain_random_1m"] = "plain lookup, random key of " large
    desc["verify_random_1m"] = "apikey_verify, random key of " large
    desc["verify_random_1m_notrack"] = "  the same, usage tracking off"
    desc["rls"] = "authenticate + accessors + RLS query (txn)"
    desc["rls_plain"] = "  the same by hand in SQL (baseline)"
    desc["create_txn"] = "apikey_create, one key per transaction"
    desc["create_batch"] = "apikey_create, keys/s in one statement"
    desc["verify_hot_mixed"] = "verify_hot, native + imported keys (mixed)"
    desc["verify_random_1k_mixed"] = "verify_random_1k_notrack, mixed table"
    desc["verify_imported_key"] = "apikey_verify of an imported key"
    desc["import_batch"] = "apikey_import_many, keys/s in one statement"

    printf "%-26s %-44s %2s %10s   %s\n", "case", "what", "c", "median", "per round"
    for (i = 1; i <= ncases; i++) {
        split(order[i], kc, SUBSEP)
        seen[kc[1]] = 1
    }
    # Fixed order, 1 then 2 clients.
    n = split("select1 plain_hot verify_hot verify_hot_notrack verify_hot_limited verify_hot_counted plain_random_1k verify_random_1k verify_random_1k_notrack plain_random_1m verify_random_1m verify_random_1m_notrack verify_hot_mixed verify_random_1k_mixed verify_imported_key rls rls_plain create_txn create_batch import_batch", names, " ")
    for (i = 1; i <= n; i++) for (c = 1; c <= 2; c++) {
        key = names[i] SUBSEP c
        if (!(key in vals)) continue
        printf "%-26s %-44s %2d %10s  %s\n", names[i], desc[names[i]], c, fmt(median(key)), vals[key]
    }

    print ""
    print "Ratios (medians; targets of issue 6)"
    targets = 0; met = 0
    for (c = 1; c <= 2; c++) {
        ratio(sprintf("verify_hot / plain_hot, %d client%s", c, c > 1 ? "s" : ""), med("verify_hot", c), med("plain_hot", c), 0.9)
        ratio(sprintf("verify_hot / select1, %d client%s", c, c > 1 ? "s" : ""), med("verify_hot", c), med("select1", c), 0.6)
    }
    ratio("hot key, 2 clients: tracking on / tracking off", med("verify_hot", 2), med("verify_hot_notrack", 2), 0.9)
    for (c = 1; c <= 2; c++)
        ratio(sprintf("rate-limited / plain verify, %d client%s (issue 8)", c, c > 1 ? "s" : ""),
              med("verify_hot_limited", c), med("verify_hot", c), 0.9)
    for (c = 1; c <= 2; c++)
        ratio(sprintf("usage-counted / plain verify, %d client%s (issue 8)", c, c > 1 ? "s" : ""),
              med("verify_hot_counted", c), med("verify_hot", c), 0.9)
    for (c = 1; c <= 2; c++)
        ratio(sprintf("random key: %s keys / %s keys, %d client%s", large, small, c, c > 1 ? "s" : ""),
              med("verify_random_1m", c), med("verify_random_1k", c), 0.85)
    for (c = 1; c <= 2; c++)
        ratio(sprintf("  the same, tracking off, %d client%s", c, c > 1 ? "s" : ""),
              med("verify_random_1m_notrack", c), med("verify_random_1k_notrack", c), 0.85)
    ratio("creation, keys/s in one session / 10000", med("create_batch", 1), 10000, 1.0)
    for (c = 1; c <= 2; c++) {
        ratio(sprintf("native hot key, imported keys beside / none, %d client%s (issue 18)", c, c > 1 ? "s" : ""),
              med("verify_hot_mixed", c), med("verify_hot", c), 0.95)
        ratio(sprintf("native random key, imported beside / none, %d client%s (issue 18)", c, c > 1 ? "s" : ""),
              med("verify_random_1k_mixed", c), med("verify_random_1k_notrack", c), 0.95)
    }
    ratio("bulk import / bulk creation, keys/s (issue 18)", med("import_batch", 1), med("create_batch", 1), 1.0)

    print ""
    print "Ratios for information"
    for (c = 1; c <= 2; c++) {
        ratio(sprintf("verify_random / plain_random, %s keys, c=%d", small, c), med("verify_random_1k", c), med("plain_random_1k", c), 0)
        ratio(sprintf("verify_random / plain_random, %s keys, c=%d", large, c), med("verify_random_1m", c), med("plain_random_1m", c), 0)
        ratio(sprintf("plain_random: %s keys / %s keys, c=%d", large, small, c), med("plain_random_1m", c), med("plain_random_1k", c), 0)
        ratio(sprintf("hot key, tracking on / off, c=%d", c), med("verify_hot", c), med("verify_hot_notrack", c), 0)
        ratio(sprintf("rls / rls_plain, c=%d", c), med("rls", c), med("rls_plain", c), 0)
        ratio(sprintf("imported key / native key beside it, hot, c=%d", c), med("verify_imported_key", c), med("verify_hot_mixed", c), 0)
    }
    printf "\ntargets met: %d of %d\n", met, targets
}
