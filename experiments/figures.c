/* figures.c - the sweep's figures, drawn by gnuplot (see figures.h).
 *
 * gnuplot runs as a child process with the file names and the title passed
 * as -e variables; it writes figures/<base>.tmp.<host>.<pid>.{png,svg},
 * renamed into place only when gnuplot succeeded and both files pass
 * nd_verify_figure (gnuplot exits 0 when its write fails on a full disk), so
 * a figure is complete or the previous one stays.
 */
#include "experiments/figures.h"
#include "core/afile.h"
#include "core/err.h"
#include "core/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *fig_plots_dir(void)
{
    static char dir[PATH_MAX + 16];
    const char *env = getenv("ND_PLOTS");
    char probe[PATH_MAX + 64];
    char exe[PATH_MAX - 32];
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
        snprintf(probe, sizeof probe, "%s/unique_vs_alpha.gp", dir);
        if (file_exists(probe))
            return dir;
        nd_fail("ND_PLOTS=%s: no unique_vs_alpha.gp there", env);
        return NULL;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *s = strrchr(exe, '/');
        if (s) {
            *s = 0;
            snprintf(dir, sizeof dir, "%s/../plots", exe);
            snprintf(probe, sizeof probe, "%s/unique_vs_alpha.gp", dir);
            char *real = file_exists(probe) ? realpath(dir, NULL) : NULL;
            if (real) {
                snprintf(dir, sizeof dir, "%s", real);
                free(real);
                return dir;
            }
        }
    }
    snprintf(dir, sizeof dir, "plots");
    if (file_exists("plots/unique_vs_alpha.gp"))
        return dir;
    nd_fail("cannot find the gnuplot scripts (plots/unique_vs_alpha.gp beside the binary's folder or "
            "in the current folder); set ND_PLOTS to their folder");
    return NULL;
}

/* The scripts use enhanced text (the Greek alpha, a smaller subtitle), where
 * _ ^ @ ~ { } would otherwise turn a name like fire_9 into a subscript: a
 * backslash before them makes them literal (one backslash: the value is a
 * single-quoted string).  '&' becomes the octal escape \046: gnuplot 5.4's
 * SVG terminal writes an escaped "\&" as a bare & (an SVG no XML parser
 * reads), the octal one as &amp;. */
void fig_gp_quote_label(FILE *f, const char *name, const char *v)
{
    fprintf(f, "%s='", name);
    for (; *v; v++) {
        if (*v == '&')
            fputs("\\046", f);
        else if (strchr("_^@~{}\\", *v))
            fprintf(f, "\\%c", *v);
        else if (*v == '\'')
            fputs("''", f);
        else
            fputc(*v, f);
    }
    fputs("';", f);
}

/* gnuplot string literal in single quotes ('' is a quote inside). */
void fig_gp_quote(FILE *f, const char *name, const char *v)
{
    fprintf(f, "%s='", name);
    for (; *v; v++) {
        if (*v == '\'')
            fputc('\'', f);
        fputc(*v, f);
    }
    fputs("';", f);
}

/* Run gnuplot on one script; outputs go to figures/<base>.tmp.<tag>.{png,svg}
 * and are renamed when gnuplot succeeded and both are complete. */
int fig_gnuplot(const char *script, const char *run_dir, const char *base, const char *vars, int first)
{
    char *fig = nd_path_join(run_dir, "figures");
    if (!fig || nd_mkdirs(fig)) {
        free(fig);
        return -1;
    }
    char tmpbase[PATH_MAX], final[PATH_MAX + 8], tmpf[PATH_MAX + 8], logp[PATH_MAX];
    snprintf(tmpbase, sizeof tmpbase, "%s/%s.tmp.%s", fig, base, afile_tmp_tag());
    snprintf(logp, sizeof logp, "%s/gnuplot.log", fig);
    char *e = NULL;
    size_t elen = 0;
    FILE *m = open_memstream(&e, &elen);
    if (!m) {
        free(fig);
        return nd_fail("out of memory");
    }
    fputs(vars, m);
    fig_gp_quote(m, "outbase", tmpbase);
    fclose(m);
    pid_t pid = fork();
    if (pid < 0) {
        free(fig);
        free(e);
        return nd_fail("cannot start gnuplot: %s", strerror(errno));
    }
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | (first ? O_TRUNC : 0), 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("gnuplot", "gnuplot", "-e", e, script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    free(e);
    int rc = 0;
    static const char *ext[2] = {"png", "svg"};
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            rc = nd_fail("gnuplot not found: install gnuplot (Debian: gnuplot-nox), then run 'dissect plot %s'",
                         run_dir);
        else
            rc = nd_fail("%s: gnuplot failed (status %d); see %s", script, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                         logp);
    }
    for (int i = 0; i < 2 && rc == 0; i++) { /* both whole before either replaces the old */
        snprintf(tmpf, sizeof tmpf, "%s.%s", tmpbase, ext[i]);
        if (!file_exists(tmpf))
            rc = nd_fail("%s: gnuplot wrote no %s (see %s)", script, tmpf, logp);
        else if (nd_verify_figure(tmpf))
            rc = nd_fail_prefix("gnuplot exited 0 but its figure is incomplete (disk full?); the previous "
                                "figures are kept");
    }
    for (int i = 0; i < 2; i++) {
        snprintf(tmpf, sizeof tmpf, "%s.%s", tmpbase, ext[i]);
        snprintf(final, sizeof final, "%s/%s.%s", fig, base, ext[i]);
        if (rc == 0 && rename(tmpf, final))
            rc = nd_fail("%s: cannot rename to %s: %s", tmpf, final, strerror(errno));
        if (rc)
            unlink(tmpf);
    }
    free(fig);
    return rc;
}

/* Title from config.effective.ini ("title = ..." in [output]). */
static char *run_title(const char *run_dir)
{
    char *p = nd_path_join(run_dir, "config.effective.ini");
    char *text = p && file_exists(p) ? nd_read_text(p) : NULL;
    free(p);
    char *title = NULL;
    for (char *l = text; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = 0;
        if (!strncmp(l, "title = ", 8)) {
            title = strdup(l + 8);
            break;
        }
        l = nl ? nl + 1 : l + strlen(l);
    }
    free(text);
    if (!title) {
        const char *s = strrchr(run_dir, '/');
        title = strdup(s && s[1] ? s + 1 : run_dir);
    }
    return title;
}

int fig_run(const char *base, const char *run_dir, const char *vars, int first)
{
    const char *pd = fig_plots_dir();
    if (!pd)
        return -1;
    char script[PATH_MAX + 64];
    snprintf(script, sizeof script, "%s/%s.gp", pd, base);
    return fig_gnuplot(script, run_dir, base, vars, first);
}

int fig_draw(const char *run_dir)
{
    const char *pd = fig_plots_dir();
    if (!pd)
        return -1;
    char *sum = nd_path_join(run_dir, "summary.csv");
    char *sw = nd_path_join(run_dir, "sweep.csv");
    if (!sum || !sw || !file_exists(sum) || !file_exists(sw)) {
        int r = nd_fail("%s: no summary.csv / sweep.csv (not a finished sweep run folder)", run_dir);
        free(sum), free(sw);
        return r;
    }
    /* Categories: the "<cat>_detectors_mean" columns of summary.csv. */
    char *text = nd_read_text(sum);
    if (!text) {
        free(sum), free(sw);
        return -1;
    }
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = 0;
    char cats[4096] = "";
    for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ",")) {
        size_t n = strlen(tok);
        const char *suf = "_detectors_mean";
        if (n > strlen(suf) && !strcmp(tok + n - strlen(suf), suf) && strlen(cats) + n < sizeof cats - 2) {
            if (*cats)
                strcat(cats, " ");
            size_t at = strlen(cats), k = n - strlen(suf);
            memcpy(cats + at, tok, k);
            cats[at + k] = 0;
        }
    }
    free(text);
    char *title = run_title(run_dir);
    char *vars = NULL;
    size_t vlen = 0;
    FILE *m = open_memstream(&vars, &vlen);
    if (!m || !title) {
        free(sum), free(sw), free(title);
        return nd_fail("out of memory");
    }
    fig_gp_quote(m, "summary", sum);
    fig_gp_quote(m, "sweep", sw);
    fig_gp_quote_label(m, "plottitle", title);
    fig_gp_quote(m, "cats", cats);
    fclose(m);
    char s1[PATH_MAX + 32], s2[PATH_MAX + 32];
    snprintf(s1, sizeof s1, "%s/unique_vs_alpha.gp", pd);
    snprintf(s2, sizeof s2, "%s/category_vs_alpha.gp", pd);
    int rc = fig_gnuplot(s1, run_dir, "unique_vs_alpha", vars, 1);
    if (!rc)
        rc = fig_gnuplot(s2, run_dir, "category_vs_alpha", vars, 0);
    if (!rc)
        rc = fig_run("category_unique_vs_alpha", run_dir, vars, 0);
    free(vars);
    free(sum), free(sw), free(title);
    return rc;
}
