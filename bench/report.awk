# Report of bench/run.sh. Input lines: case clients round tps wal-bytes-per-txn.
# Prints the median TPS (and WAL per transaction) per case and clients, then
# the ratios and targets, then the WAL check.
# Variables: small, mid, large (key counts of the three databases), many (the
# clients of the contention cases), walcheck (file: case transactions
# own-wal-bytes store-wal-bytes store-seconds).

function median(list,    n, i, j, t, v) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) {          # insertion sort, n is small
        t = v[i] + 0
        for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]
        v[j + 1] = t
    }
    if (n == 0) return -1
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function med(name, c) { return ((name SUBSEP c) in vals) ? median(vals[name SUBSEP c]) : -1 }
function fmt(x) { return x < 0 ? "n/a" : sprintf("%.0f", x) }
function plural(c) { return c > 1 ? "s" : "" }

# verdict R TARGET: counts the target and says whether R meets it.
function verdict(r, target) {
    targets++
    if (r >= target) met++
    return sprintf("target >= %.2f: %s", target, r >= target ? "met" : "NOT MET")
}

# ratio LABEL NUM DEN TARGET(0: none)
function ratio(label, num, den, target) {
    if (num < 0 || den <= 0) { printf "  %-62s %8s\n", label, "n/a"; return -1 }
    printf "  %-62s %8.3f   %s\n", label, num / den, (target > 0) ? verdict(num / den, target) : ""
    return num / den
}

# of_ratios LABEL A B C D TARGET: (A / B) / (C / D), against TARGET.
function of_ratios(label, a, b, c, d, target) {
    if (a < 0 || b <= 0 || c < 0 || d <= 0 || c == 0) { printf "  %-62s %8s\n", label, "n/a"; return }
    printf "  %-62s %8.3f   (%.3f / %.3f)  %s\n", label, (a / b) / (c / d), a / b, c / d,
           verdict((a / b) / (c / d), target)
}

{
    key = $1 SUBSEP $2
    vals[key] = vals[key] " " $4
    wal[key] = wal[key] " " $5
}

END {
    desc["select1"] = "SELECT 1 (ceiling)"
    desc["plain_hot"] = "plain SQL digest lookup, one key"
    desc["verify_hot"] = "apikey_verify, one key, scope + address"
    desc["verify_hot_notrack"] = "  the same, usage tracking off"
    desc["verify_hot_limited"] = "  the same key with a rate limit"
    desc["plain_random_1k"] = "plain lookup, random key of " small
    desc["verify_random_1k"] = "apikey_verify, random key of " small
    desc["verify_random_1k_notrack"] = "  the same, usage tracking off"
    desc["plain_random_100k"] = "plain lookup, random key of " mid
    desc["verify_random_100k"] = "apikey_verify, random key of " mid
    desc["plain_random_1m"] = "plain lookup, random key of " large
    desc["verify_random_1m"] = "apikey_verify, random key of " large
    desc["verify_random_1m_notrack"] = "  the same, usage tracking off"
    desc["rls"] = "authenticate + accessors + RLS query (txn)"
    desc["rls_plain"] = "  the same by hand in SQL (baseline)"
    desc["create_txn"] = "apikey_create, one key per transaction"
    desc["create_batch"] = "apikey_create, keys/s in one statement"
    desc["verify_hot_quota"] = "  the same key with a quota"
    desc["verify_hot_owner_limited"] = "  a key of an owner with shared limits"
    desc["verify_hot_mixed"] = "verify_hot, native + imported keys (mixed)"
    desc["verify_random_1k_mixed"] = "verify_random_1k_notrack, mixed table"
    desc["verify_imported_key"] = "apikey_verify of an imported key"
    desc["import_batch"] = "apikey_import_many, keys/s in one statement"

    printf "%-26s %-44s %3s %10s %9s   %s\n", "case", "what", "c", "median", "WAL B/tx", "per round"
    # Fixed order, by clients.
    n = split("select1 plain_hot verify_hot verify_hot_notrack verify_hot_limited verify_hot_quota verify_hot_owner_limited plain_random_1k verify_random_1k verify_random_1k_notrack plain_random_100k verify_random_100k plain_random_1m verify_random_1m verify_random_1m_notrack verify_hot_mixed verify_random_1k_mixed verify_imported_key rls rls_plain create_txn create_batch import_batch", names, " ")
    nc = split("1 2 " many, clients, " ")
    for (i = 1; i <= n; i++) for (k = 1; k <= nc; k++) {
        key = names[i] SUBSEP clients[k]
        if (!(key in vals)) continue
        printf "%-26s %-44s %3d %10s %9.1f  %s\n", names[i], desc[names[i]], clients[k],
               fmt(median(vals[key])), median(wal[key]), vals[key]
    }
    print "(WAL B/tx: all WAL written during the run per transaction, the background"
    print " store of last-used times and usage counts included; see the WAL check)"

    targets = 0; met = 0
    print ""
    print "Targets of issue 15 (medians of this run)"
    for (c = 1; c <= 2; c++) {
        ratio(sprintf("verify_random / plain_random, %s keys, %d client%s", mid, c, plural(c)),
              med("verify_random_100k", c), med("plain_random_100k", c), 0.9)
        ratio(sprintf("verify_random / plain_random, %s keys, %d client%s", large, c, plural(c)),
              med("verify_random_1m", c), med("plain_random_1m", c), 0.9)
    }
    for (c = 1; c <= 2; c++)
        of_ratios(sprintf("%s / %s keys: verify's ratio / plain's ratio, %d client%s", large, small, c, plural(c)),
                  med("verify_random_1m", c), med("verify_random_1k", c),
                  med("plain_random_1m", c), med("plain_random_1k", c), 0.95)
    ratio("hot key: verify_hot / plain_hot, 2 clients", med("verify_hot", 2), med("plain_hot", 2), 0.95)
    ratio(sprintf("hot key, %d clients: rate-limited / unlimited", many),
          med("verify_hot_limited", many), med("verify_hot", many), 0.8)
    ratio("creation, keys/s in one session / 20000", med("create_batch", 1), 20000, 1.0)
    for (c = 1; c <= 2; c++) {
        ratio(sprintf("quota / plain verify, hot key, %d client%s (issue 17)", c, plural(c)),
              med("verify_hot_quota", c), med("verify_hot", c), 0.9)
        ratio(sprintf("owner limits / plain verify, hot key, %d client%s (issue 17)", c, plural(c)),
              med("verify_hot_owner_limited", c), med("verify_hot", c), 0.9)
    }
    for (c = 1; c <= 2; c++) {
        ratio(sprintf("native hot key, imported keys beside / none, %d client%s (issue 18)", c, plural(c)),
              med("verify_hot_mixed", c), med("verify_hot", c), 0.95)
        ratio(sprintf("native random key, imported beside / none, %d client%s (issue 18)", c, plural(c)),
              med("verify_random_1k_mixed", c), med("verify_random_1k_notrack", c), 0.95)
    }
    ratio("bulk import / bulk creation, keys/s (issue 18)", med("import_batch", 1), med("create_batch", 1), 1.0)
    # The WAL check: a verification's own WAL, with the store paused.
    nw = 0
    while ((getline line < walcheck) > 0) {
        split(line, f, " ")
        wc[++nw] = line
        if (f[2] > 0) {
            label = sprintf("WAL of %s per verification (store paused), bytes", f[1])
            perv = f[3] / f[2]
            targets++
            if (perv < 1) met++
            printf "  %-62s %8.2f   target < 1: %s\n", label, perv, (perv < 1) ? "met" : "NOT MET"
        }
    }

    print ""
    print "Earlier targets (issues 6 and 8)"
    for (c = 1; c <= 2; c++) {
        ratio(sprintf("verify_hot / plain_hot, %d client%s", c, plural(c)), med("verify_hot", c), med("plain_hot", c), 0.9)
        ratio(sprintf("verify_hot / select1, %d client%s", c, plural(c)), med("verify_hot", c), med("select1", c), 0.6)
    }
    ratio("hot key, 2 clients: tracking on / tracking off", med("verify_hot", 2), med("verify_hot_notrack", 2), 0.9)
    for (c = 1; c <= 2; c++)
        ratio(sprintf("rate-limited / plain verify, %d client%s (issue 8)", c, plural(c)),
              med("verify_hot_limited", c), med("verify_hot", c), 0.9)
    for (c = 1; c <= 2; c++)
        ratio(sprintf("random key: %s keys / %s keys, %d client%s", large, small, c, plural(c)),
              med("verify_random_1m", c), med("verify_random_1k", c), 0.85)

    print ""
    print "Ratios for information"
    for (c = 1; c <= 2; c++) {
        ratio(sprintf("verify_random / plain_random, %s keys, c=%d", small, c), med("verify_random_1k", c), med("plain_random_1k", c), 0)
        ratio(sprintf("plain_random: %s keys / %s keys, c=%d", large, small, c), med("plain_random_1m", c), med("plain_random_1k", c), 0)
        ratio(sprintf("plain_random: %s keys / %s keys, c=%d", mid, small, c), med("plain_random_100k", c), med("plain_random_1k", c), 0)
        ratio(sprintf("random key of %s, tracking on / off, c=%d", large, c), med("verify_random_1m", c), med("verify_random_1m_notrack", c), 0)
        ratio(sprintf("hot key, tracking on / off, c=%d", c), med("verify_hot", c), med("verify_hot_notrack", c), 0)
        ratio(sprintf("rls / rls_plain, c=%d", c), med("rls", c), med("rls_plain", c), 0)
        ratio(sprintf("imported key / native key beside it, hot, c=%d", c), med("verify_imported_key", c), med("verify_hot_mixed", c), 0)
    }
    ratio(sprintf("hot key, %d clients: verify_hot / plain_hot", many), med("verify_hot", many), med("plain_hot", many), 0)
    ratio(sprintf("hot key, %d clients: tracking on / off", many), med("verify_hot", many), med("verify_hot_notrack", many), 0)
    ratio(sprintf("hot key: %d clients / 2 clients, verify_hot", many), med("verify_hot", many), med("verify_hot", 2), 0)
    ratio(sprintf("hot key: %d clients / 2 clients, plain_hot", many), med("plain_hot", many), med("plain_hot", 2), 0)

    if (nw > 0) {
        print ""
        print "WAL check (1 client, the background store paused during the run, then resumed)"
        printf "  %-26s %13s %14s %14s %14s\n", "case", "verifications", "own WAL B/ver", "store B/ver", "store s/1000"
        for (i = 1; i <= nw; i++) {
            split(wc[i], f, " ")
            printf "  %-26s %13d %14.2f %14.1f %14.3f\n", f[1], f[2], f[2] ? f[3] / f[2] : 0,
                   f[2] ? f[4] / f[2] : 0, f[2] ? 1000 * f[5] / f[2] : 0
        }
        print "  (store: the flusher storing what the run recorded; s/1000: its seconds per 1,000 verifications)"
    }
    printf "\ntargets met: %d of %d\n", met, targets
}
