/*
 * config_alert.c -- schema of the "alert" section (clipbus-alert): rules,
 * channels, routes and maintenance windows, with the cross-field checks
 * that make a rule set usable (Req 4.1-4.5, 6.2).
 *
 * Checks beyond single keys (run by the finish hooks, path-precise):
 *  - rule and channel names are unique; routes name existing channels;
 *  - hysteresis goes the right way: for ">" rules clear <= fire, for "<"
 *    rules clear >= fire ("contradicting thresholds" otherwise);
 *  - a dynamic threshold needs a baseline longer than the window;
 *  - templates reference only known fields (cbc_alert_template_check);
 *  - webhook URLs are http(s)://, email URLs smtp(s):// with from and to,
 *    file channels have a path; a command is an argv list, never a shell
 *    string.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "config_schema.h"

static const char *const kind_names[] = {
    "error_count",  "error_rate",    "latency",         "counter_rate",
    "gauge",        "absence",       "producer_died",   "records_lost",
    "session_aborted", "session_stalled", "inflight", NULL};
static const char *const op_names[] = {">", "<", NULL};
static const char *const th_names[] = {"static", "ratio", "delta", NULL};
static const char *const sev_names[] = {"critical", "warning", "info", NULL};
static const char *const ch_names[] = {"webhook", "email", "file", NULL};

const char *
cbc_alert_kind_name(int kind)
{
    return kind >= 0 && kind < CBC_AK_N ? kind_names[kind] : "?";
}

const char *
cbc_alert_severity_name(int sev)
{
    return sev >= 0 && sev < 3 ? sev_names[sev] : "?";
}

const char *
cbc_alert_channel_type_name(int type)
{
    return type >= 0 && type < 3 ? ch_names[type] : "?";
}

/* ---- string rules ------------------------------------------------------- */

static int
is_ident(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') ||
                    (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static const char *
check_name(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
              *p == '.' || *p == ':'))
            return "may contain only letters, digits, '_', '-', '.' and ':'";
    return NULL;
}

/* "label=glob" or "label!=glob". */
static const char *
check_matcher(const char *s)
{
    const char *eq = strchr(s, '=');
    if (eq == NULL)
        return "must be LABEL=GLOB or LABEL!=GLOB (e.g. function=fetch_*)";
    size_t n = (size_t)(eq - s);
    if (n > 0 && s[n - 1] == '!')
        n--;
    if (!is_ident(s, n))
        return "the label before '=' must be a name ([A-Za-z_][A-Za-z0-9_]*)";
    return NULL;
}

static const char *
check_label(const char *s)
{
    const char *eq = strchr(s, '=');
    if (eq == NULL || !is_ident(s, (size_t)(eq - s)))
        return "must be NAME=VALUE with NAME [A-Za-z_][A-Za-z0-9_]*";
    return NULL;
}

static const char *const template_fields[] = {
    "rule", "function", "producer", "value", "threshold", "severity",
    "kind", "window", "baseline", "target", NULL};

const char *
cbc_alert_template_check(const char *tpl)
{
    for (const char *p = tpl; *p; p++) {
        if (*p == '}') {
            if (p[1] == '}') {
                p++;
                continue;
            }
            return "a lone '}' (write '}}' for a literal brace)";
        }
        if (*p != '{')
            continue;
        if (p[1] == '{') {
            p++;
            continue;
        }
        const char *end = strchr(p, '}');
        if (end == NULL)
            return "a '{' without its '}' (write '{{' for a literal brace)";
        size_t n = (size_t)(end - p - 1);
        int ok = 0;
        for (int i = 0; template_fields[i] && !ok; i++)
            ok = strlen(template_fields[i]) == n &&
                 strncmp(p + 1, template_fields[i], n) == 0;
        if (!ok && n > 7 && strncmp(p + 1, "labels.", 7) == 0)
            ok = is_ident(p + 8, n - 7);
        if (!ok)
            return "unknown field in {...}: use rule, target, function, "
                   "producer, value, threshold, severity, kind, window, "
                   "baseline or labels.NAME";
        p = end;
    }
    return NULL;
}

int
cbc_alert_parse_time(const char *s, uint64_t *ns)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0' || tm.tm_year < 70)
        return -EINVAL;
    time_t t = timegm(&tm);
    if (t < 0)
        return -EINVAL;
    *ns = (uint64_t)t * 1000000000u;
    return 0;
}

static const char *
check_time(const char *s)
{
    uint64_t ns;
    return cbc_alert_parse_time(s, &ns) == 0
               ? NULL
               : "must be a UTC time like 2025-01-31T02:00:00Z";
}

static const char *
check_url(const char *s)
{
    if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8) &&
        strncmp(s, "smtp://", 7) && strncmp(s, "smtps://", 8))
        return "must start with http://, https://, smtp:// or smtps://";
    return NULL;
}

/* ---- rules -------------------------------------------------------------- */

static const struct cbc_key matcher_elem = {
    .name = "matcher", .type = CBC_T_STRING, .min = 3, .max = 256,
    .check = check_matcher};
static const struct cbc_key label_elem = {
    .name = "label", .type = CBC_T_STRING, .min = 2, .max = 512,
    .check = check_label};
static const struct cbc_key name_elem = {
    .name = "name", .type = CBC_T_STRING, .min = 1, .max = 64,
    .check = check_name};
static const struct cbc_key severity_elem = {
    .name = "severity", .type = CBC_T_STRING, .min = 1, .max = 16};
static const struct cbc_key arg_elem = {
    .name = "argument", .type = CBC_T_STRING, .min = 0, .max = 4096};
static const struct cbc_key addr_elem = {
    .name = "address", .type = CBC_T_STRING, .min = 3, .max = 320};

#define R(m) offsetof(struct cbc_alert_rule, m)
static const struct cbc_key rule_keys[] = {
    {.name = "name", .type = CBC_T_STRING, .offset = R(name), .min = 1,
     .max = 64, .check = check_name,
     .doc = "the alert's name (label alertname); unique"},
    {.name = "kind", .type = CBC_T_ENUM, .offset = R(kind),
     .choices = kind_names,
     .doc = "what is measured: error_count, error_rate (percent), latency "
            "(seconds), counter_rate (per second), gauge, absence (seconds "
            "since the last record), producer_died, records_lost, "
            "session_aborted, session_stalled (seconds), inflight (seconds)"},
    {.name = "match", .type = CBC_T_LIST, .offset = R(match),
     .count_offset = R(n_match), .dflt = "[]", .max = 16,
     .elem = &matcher_elem,
     .doc = "LABEL=GLOB (or LABEL!=GLOB) on function, producer, consumer, "
            "session or a record label; all must hold; one alert per "
            "matching series"},
    {.name = "window", .type = CBC_T_DURATION, .offset = R(window_ns),
     .dflt = "\"1m\"", .min = 100 * CBC_NS_MS, .max = 7 * CBC_NS_D,
     .doc = "the value is computed over this much record time"},
    {.name = "percentile", .type = CBC_T_DOUBLE, .offset = R(percentile),
     .dflt = "95", .dmin = 0, .dmax = 100,
     .doc = "latency rules: which percentile of call durations"},
    {.name = "op", .type = CBC_T_ENUM, .offset = R(op), .dflt = "\">\"",
     .choices = op_names, .doc = "fire when value > fire, or value < fire"},
    {.name = "fire", .type = CBC_T_DOUBLE, .offset = R(fire), .dflt = "0",
     .dmin = -1e15, .dmax = 1e15,
     .doc = "threshold (a factor or an offset for dynamic thresholds)"},
    {.name = "clear", .type = CBC_T_DOUBLE, .offset = R(clear),
     .dflt = "-1e300", .dmin = -1e300, .dmax = 1e15,
     .doc = "the alert resolves once value <= clear (\"<\" rules: >=); "
            "omitted: the fire threshold (no hysteresis)"},
    {.name = "threshold", .type = CBC_T_ENUM, .offset = R(threshold),
     .dflt = "\"static\"", .choices = th_names,
     .doc = "static; ratio (fire x baseline); delta (baseline + fire)"},
    {.name = "baseline", .type = CBC_T_DURATION, .offset = R(baseline_ns),
     .dflt = "\"24h\"", .min = CBC_NS_S, .max = 30 * CBC_NS_D,
     .doc = "dynamic thresholds: the series' own value over this much time "
            "before the current window"},
    {.name = "min_count", .type = CBC_T_INT, .offset = R(min_count),
     .dflt = "1", .min = 0, .max = 1000000000,
     .doc = "calls/samples needed in the window, else no value (quiet "
            "functions do not fire)"},
    {.name = "baseline_min_count", .type = CBC_T_INT,
     .offset = R(baseline_min_count), .dflt = "20", .min = 1,
     .max = 1000000000, .doc = "samples needed in the baseline"},
    {.name = "for", .type = CBC_T_DURATION, .offset = R(for_ns),
     .dflt = "\"0s\"", .min = 0, .max = 7 * CBC_NS_D,
     .doc = "the condition must hold this long before the alert fires"},
    {.name = "repeat", .type = CBC_T_DURATION, .offset = R(repeat_ns),
     .dflt = "\"4h\"", .min = 0, .max = 30 * CBC_NS_D,
     .doc = "notify again this often while firing; 0s: never"},
    {.name = "cooldown", .type = CBC_T_DURATION, .offset = R(cooldown_ns),
     .dflt = "\"5m\"", .min = 0, .max = 7 * CBC_NS_D,
     .doc = "after a resolve, a new firing of the same alert is not paged "
            "within this time (flapping)"},
    {.name = "severity", .type = CBC_T_ENUM, .offset = R(severity),
     .dflt = "\"warning\"", .choices = sev_names,
     .doc = "critical, warning or info (label severity)"},
    {.name = "labels", .type = CBC_T_LIST, .offset = R(labels),
     .count_offset = R(n_labels), .dflt = "[]", .max = 16,
     .elem = &label_elem, .doc = "extra NAME=VALUE labels of the alert"},
    {.name = "summary", .type = CBC_T_STRING, .offset = R(summary),
     .dflt = "\"{rule}: {target} {kind} {value} (threshold "
             "{threshold})\"",
     .min = 1, .max = 1024, .check = cbc_alert_template_check,
     .doc = "template of the summary annotation and the mail subject; "
            "{target} is the function, session, consumer or producer"},
    {.name = "description", .type = CBC_T_STRING, .offset = R(description),
     .dflt = "\"\"", .min = 0, .max = 4096, .check = cbc_alert_template_check,
     .doc = "template of the description annotation"},
    {.name = NULL},
};
#undef R

static void
rule_finish(void *obj, struct cbc_ctx *ctx)
{
    struct cbc_alert_rule *r = obj;
    size_t mark;
    if (r->clear <= CBC_ALERT_UNSET)
        r->clear = r->fire;
    if ((r->op == CBC_AOP_ABOVE && r->clear > r->fire) ||
        (r->op == CBC_AOP_BELOW && r->clear < r->fire)) {
        mark = cbc__path_key(ctx, "clear");
        cbc__error(ctx, "%g contradicts fire %g: with op \"%s\" the clear "
                        "threshold must be %s the fire threshold",
                   r->clear, r->fire, op_names[r->op],
                   r->op == CBC_AOP_ABOVE ? "at or below" : "at or above");
        cbc__path_pop(ctx, mark);
    }
    if (r->threshold != CBC_ATH_STATIC && r->baseline_ns <= r->window_ns) {
        mark = cbc__path_key(ctx, "baseline");
        cbc__error(ctx, "a dynamic threshold needs a baseline longer than "
                        "the window");
        cbc__path_pop(ctx, mark);
    }
    if (r->threshold == CBC_ATH_RATIO && r->fire <= 0) {
        mark = cbc__path_key(ctx, "fire");
        cbc__error(ctx, "a ratio threshold must be above 0 (e.g. 3 for "
                        "3 x the baseline)");
        cbc__path_pop(ctx, mark);
    }
}

static const struct cbc_table rule_table = {
    .name = "rule", .keys = rule_keys,
    .size = sizeof(struct cbc_alert_rule), .finish = rule_finish};

/* ---- channels ----------------------------------------------------------- */

#define C(m) offsetof(struct cbc_alert_channel, m)
static const struct cbc_key channel_keys[] = {
    {.name = "name", .type = CBC_T_STRING, .offset = C(name), .min = 1,
     .max = 64, .check = check_name, .doc = "unique; routes name it"},
    {.name = "type", .type = CBC_T_ENUM, .offset = C(type),
     .choices = ch_names, .doc = "webhook, email or file"},
    {.name = "url", .type = CBC_T_STRING, .offset = C(url), .dflt = "null",
     .flags = CBC_NULLABLE, .min = 8, .max = 2048, .check = check_url,
     .doc = "webhook: http(s)://host:port/path (Alertmanager v4 body); "
            "email: smtp://host:port or smtps://host:port"},
    {.name = "bearer_token", .type = CBC_T_STRING, .offset = C(bearer_token),
     .dflt = "null", .flags = CBC_NULLABLE, .min = 1, .max = 4096,
     .doc = "webhook: Authorization: Bearer TOKEN"},
    {.name = "username", .type = CBC_T_STRING, .offset = C(username),
     .dflt = "null", .flags = CBC_NULLABLE, .min = 1, .max = 256,
     .doc = "webhook basic auth or SMTP login"},
    {.name = "password", .type = CBC_T_STRING, .offset = C(password),
     .dflt = "null", .flags = CBC_NULLABLE, .min = 0, .max = 256,
     .doc = "with username"},
    {.name = "tls_verify", .type = CBC_T_BOOL, .offset = C(tls_verify),
     .dflt = "true", .doc = "verify the server's certificate and name"},
    {.name = "starttls", .type = CBC_T_BOOL, .offset = C(starttls),
     .dflt = "false", .doc = "email over smtp://: require STARTTLS"},
    {.name = "from", .type = CBC_T_STRING, .offset = C(from), .dflt = "null",
     .flags = CBC_NULLABLE, .min = 3, .max = 320,
     .doc = "email: sender address"},
    {.name = "to", .type = CBC_T_LIST, .offset = C(to),
     .count_offset = C(n_to), .dflt = "[]", .max = 32, .elem = &addr_elem,
     .doc = "email: recipient addresses"},
    {.name = "path", .type = CBC_T_STRING, .offset = C(path), .dflt = "null",
     .flags = CBC_NULLABLE, .min = 1, .max = 4095,
     .doc = "file: append one JSON line per notification here"},
    {.name = "command", .type = CBC_T_LIST, .offset = C(command),
     .count_offset = C(n_command), .dflt = "[]", .max = 64,
     .elem = &arg_elem,
     .doc = "file: argv run after each line (no shell), the JSON on its "
            "stdin; exit 0 counts as delivered"},
    {.name = "timeout", .type = CBC_T_DURATION, .offset = C(timeout_ns),
     .dflt = "\"5s\"", .min = 100 * CBC_NS_MS, .max = 5 * CBC_NS_MIN,
     .doc = "one delivery attempt"},
    {.name = "backoff", .type = CBC_T_DURATION, .offset = C(backoff_ns),
     .dflt = "\"500ms\"", .min = 10 * CBC_NS_MS, .max = CBC_NS_H,
     .doc = "first retry delay; doubles per failure, with +-25% jitter"},
    {.name = "max_backoff", .type = CBC_T_DURATION,
     .offset = C(max_backoff_ns), .dflt = "\"1m\"", .min = 10 * CBC_NS_MS,
     .max = 6 * CBC_NS_H, .doc = "cap of the retry delay"},
    {.name = "give_up", .type = CBC_T_DURATION, .offset = C(give_up_ns),
     .dflt = "\"3d\"", .min = CBC_NS_S, .max = 30 * CBC_NS_D,
     .doc = "a notification undelivered this long is dropped and counted"},
    {.name = NULL},
};
#undef C

static void
channel_finish(void *obj, struct cbc_ctx *ctx)
{
    struct cbc_alert_channel *c = obj;
    const char *need = NULL, *key = "url";
    switch (c->type) {
    case CBC_ACH_WEBHOOK:
        if (c->url == NULL || strncmp(c->url, "http", 4) != 0)
            need = "a webhook needs an http:// or https:// url";
        break;
    case CBC_ACH_EMAIL:
        if (c->url == NULL || strncmp(c->url, "smtp", 4) != 0)
            need = "an email channel needs an smtp:// or smtps:// url";
        else if (c->from == NULL)
            need = "an email channel needs a from address", key = "from";
        else if (c->n_to == 0)
            need = "an email channel needs at least one to address",
            key = "to";
        break;
    default:
        if (c->path == NULL)
            need = "a file channel needs a path", key = "path";
        break;
    }
    if (need == NULL && c->max_backoff_ns < c->backoff_ns)
        need = "max_backoff is shorter than backoff", key = "max_backoff";
    if (need != NULL) {
        size_t mark = cbc__path_key(ctx, key);
        cbc__error(ctx, "%s", need);
        cbc__path_pop(ctx, mark);
    }
}

static const struct cbc_table channel_table = {
    .name = "channel", .keys = channel_keys,
    .size = sizeof(struct cbc_alert_channel), .finish = channel_finish};

/* ---- routes and maintenance --------------------------------------------- */

#define T(m) offsetof(struct cbc_alert_route, m)
static const struct cbc_key route_keys[] = {
    {.name = "match", .type = CBC_T_LIST, .offset = T(match),
     .count_offset = T(n_match), .dflt = "[]", .max = 16,
     .elem = &matcher_elem, .doc = "LABEL=GLOB on the alert's labels"},
    {.name = "severity", .type = CBC_T_LIST, .offset = T(severities),
     .count_offset = T(n_severities), .dflt = "[]", .max = 3,
     .elem = &severity_elem, .doc = "severities taken; [] any"},
    {.name = "channels", .type = CBC_T_LIST, .offset = T(channels),
     .count_offset = T(n_channels), .min = 1, .max = 16, .elem = &name_elem,
     .doc = "channel names that receive matching alerts"},
    {.name = "stop", .type = CBC_T_BOOL, .offset = T(stop), .dflt = "false",
     .doc = "later routes do not see an alert this route took"},
    {.name = NULL},
};
#undef T

static const struct cbc_table route_table = {
    .name = "route", .keys = route_keys,
    .size = sizeof(struct cbc_alert_route)};

#define M(m) offsetof(struct cbc_alert_maint, m)
static const struct cbc_key maint_keys[] = {
    {.name = "name", .type = CBC_T_STRING, .offset = M(name),
     .dflt = "\"maintenance\"", .min = 1, .max = 64, .check = check_name,
     .doc = "shown in status"},
    {.name = "match", .type = CBC_T_LIST, .offset = M(match),
     .count_offset = M(n_match), .dflt = "[]", .max = 16,
     .elem = &matcher_elem, .doc = "alerts silenced; [] all"},
    {.name = "start", .type = CBC_T_STRING, .offset = M(start), .min = 20,
     .max = 20, .check = check_time, .doc = "UTC start, 2025-01-31T02:00:00Z"},
    {.name = "duration", .type = CBC_T_DURATION, .offset = M(duration_ns),
     .min = CBC_NS_MIN, .max = 30 * CBC_NS_D, .doc = "length of the window"},
    {.name = "every", .type = CBC_T_DURATION, .offset = M(every_ns),
     .dflt = "\"0s\"", .min = 0, .max = 366 * CBC_NS_D,
     .doc = "repeat (1d: daily, 1w: weekly); 0s: once"},
    {.name = NULL},
};
#undef M

static void
maint_finish(void *obj, struct cbc_ctx *ctx)
{
    struct cbc_alert_maint *m = obj;
    (void)cbc_alert_parse_time(m->start, &m->start_ns);
    if (m->every_ns != 0 && m->every_ns < m->duration_ns) {
        size_t mark = cbc__path_key(ctx, "every");
        cbc__error(ctx, "shorter than the duration: the window would never "
                        "end");
        cbc__path_pop(ctx, mark);
    }
}

static const struct cbc_table maint_table = {
    .name = "maintenance", .keys = maint_keys,
    .size = sizeof(struct cbc_alert_maint), .finish = maint_finish};

/* ---- the section -------------------------------------------------------- */

#define A(m) offsetof(struct cbc_alert_config, m)
static const struct cbc_key alert_keys[] = {
    {.name = "state_dir", .type = CBC_T_STRING, .offset = A(state_dir),
     .dflt = "\"clipbus-alert\"", .min = 1, .max = 4095,
     .doc = "directory of alert.db (outbox, alert state, silences)"},
    {.name = "eval_interval", .type = CBC_T_DURATION,
     .offset = A(eval_interval_ns), .dflt = "\"100ms\"",
     .min = 10 * CBC_NS_MS, .max = CBC_NS_MIN,
     .doc = "rules are evaluated this often"},
    {.name = "group_wait", .type = CBC_T_DURATION, .offset = A(group_wait_ns),
     .dflt = "\"200ms\"", .min = 0, .max = 5 * CBC_NS_MIN,
     .doc = "alerts of one rule changing within this time go out as one "
            "notification per channel"},
    {.name = "external_url", .type = CBC_T_STRING, .offset = A(external_url),
     .dflt = "\"http://localhost/clipbus-alert\"", .min = 1, .max = 1024,
     .doc = "externalURL of webhook bodies"},
    {.name = "records_lost_poll", .type = CBC_T_DURATION,
     .offset = A(records_lost_poll_ns), .dflt = "\"1s\"",
     .min = 100 * CBC_NS_MS, .max = CBC_NS_MIN,
     .doc = "how often other consumers' lost counts are read"},
    {.name = "rules", .type = CBC_T_OBJECTS, .offset = A(rules),
     .count_offset = A(n_rules), .dflt = "[]", .max = 1000,
     .sub = &rule_table, .doc = "alert rules (docs/clipbus-alert.md)"},
    {.name = "channels", .type = CBC_T_OBJECTS, .offset = A(channels),
     .count_offset = A(n_channels), .dflt = "[]", .max = 64,
     .sub = &channel_table, .doc = "where notifications go"},
    {.name = "routes", .type = CBC_T_OBJECTS, .offset = A(routes),
     .count_offset = A(n_routes), .dflt = "[]", .max = 64,
     .sub = &route_table,
     .doc = "which alerts go to which channels, first match first; [] "
            "sends every alert to every channel"},
    {.name = "maintenance", .type = CBC_T_OBJECTS, .offset = A(maintenance),
     .count_offset = A(n_maintenance), .dflt = "[]", .max = 64,
     .sub = &maint_table, .doc = "silences by schedule"},
    {.name = NULL},
};
#undef A

static void
dup_error(struct cbc_ctx *ctx, const char *list, size_t i, size_t j,
          const char *what)
{
    size_t mark = cbc__path_key(ctx, list);
    cbc__path_index(ctx, i);
    cbc__path_key(ctx, "name");
    cbc__error(ctx, "%s name already used by $.alert.%s[%zu]", what, list, j);
    cbc__path_pop(ctx, mark);
}

static void
alert_finish(void *obj, struct cbc_ctx *ctx)
{
    struct cbc_alert_config *a = obj;
    for (size_t i = 0; i < a->n_rules; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->rules[i].name, a->rules[j].name) == 0)
                dup_error(ctx, "rules", i, j, "rule");
    for (size_t i = 0; i < a->n_channels; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->channels[i].name, a->channels[j].name) == 0)
                dup_error(ctx, "channels", i, j, "channel");
    for (size_t i = 0; i < a->n_routes; i++) {
        const struct cbc_alert_route *r = &a->routes[i];
        for (size_t k = 0; k < r->n_channels; k++) {
            size_t j = 0;
            while (j < a->n_channels &&
                   strcmp(a->channels[j].name, r->channels[k]) != 0)
                j++;
            if (j < a->n_channels)
                continue;
            size_t mark = cbc__path_key(ctx, "routes");
            cbc__path_index(ctx, i);
            cbc__path_key(ctx, "channels");
            cbc__path_index(ctx, k);
            cbc__error(ctx, "no channel named \"%s\" in $.alert.channels",
                       r->channels[k]);
            cbc__path_pop(ctx, mark);
        }
        for (size_t k = 0; k < r->n_severities; k++) {
            int ok = 0;
            for (int s = 0; sev_names[s]; s++)
                ok |= strcmp(sev_names[s], r->severities[k]) == 0;
            if (ok)
                continue;
            size_t mark = cbc__path_key(ctx, "routes");
            cbc__path_index(ctx, i);
            cbc__path_key(ctx, "severity");
            cbc__path_index(ctx, k);
            cbc__error(ctx, "\"%s\" is not critical, warning or info",
                       r->severities[k]);
            cbc__path_pop(ctx, mark);
        }
    }
}

const struct cbc_table cbc__alert_table = {
    .name = "alert",
    .keys = alert_keys,
    .size = sizeof(struct cbc_alert_config),
    .finish = alert_finish,
};
