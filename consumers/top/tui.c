/*
 * tui.c -- clipbus-top on a terminal with ncurses (top.h).
 *
 * The terminal is always given back: top_tui_end() runs from the sink's
 * stop callback (which the runtime calls on SIGINT and SIGTERM as on any
 * other end), and an atexit() handler covers every other way out.
 * KEY_RESIZE comes from ncurses' own SIGWINCH handling; the next frame
 * is then built for the new size.
 */
#include <curses.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"

static int active, colors;

static void
end_at_exit(void)
{
    top_tui_end();
}

int
top_tui_begin(int color)
{
    static int registered;
    setlocale(LC_ALL, "");
    if (newterm(NULL, stdout, stdin) == NULL) {
        fprintf(stderr, TOP_PROG ": cannot use the terminal (TERM=%s); use "
                        "-b for batch output\n",
                getenv("TERM") ? getenv("TERM") : "unset");
        return -1;
    }
    active = 1;
    if (!registered++)
        atexit(end_at_exit);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    colors = color && has_colors();
    if (colors) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_YELLOW, -1);
        init_pair(2, COLOR_RED, -1);
        init_pair(3, COLOR_GREEN, -1);
    }
    return 0;
}

void
top_tui_end(void)
{
    if (!active)
        return;
    active = 0;
    curs_set(1);
    endwin();
    fflush(stdout);
}

void
top_tui_size(int *w, int *h)
{
    getmaxyx(stdscr, *h, *w);
}

static attr_t
attr_of(int a)
{
    switch (a) {
    case TOP_A_TITLE: return A_BOLD;
    case TOP_A_HEAD: return A_REVERSE;
    case TOP_A_DIM: return A_DIM;
    case TOP_A_WARN: return colors ? COLOR_PAIR(1) : A_BOLD;
    case TOP_A_BAD: return colors ? COLOR_PAIR(2) | A_BOLD : A_BOLD;
    case TOP_A_GOOD: return colors ? COLOR_PAIR(3) : A_NORMAL;
    default: return A_NORMAL;
    }
}

void
top_tui_draw(const struct top_frame *f)
{
    int w, h;
    getmaxyx(stdscr, h, w);
    erase();
    for (int i = 0; i < f->n && i < h; i++) {
        attr_t a = attr_of(f->lines[i].attr);
        attron(a);
        /* The last cell of the last row would scroll the screen. */
        mvaddnstr(i, 0, f->lines[i].text, i == h - 1 ? w - 1 : w);
        if (f->lines[i].attr == TOP_A_HEAD) {
            int len = (int)strlen(f->lines[i].text);
            for (int x = len; x < (i == h - 1 ? w - 1 : w); x++)
                mvaddch(i, x, ' ');
        }
        attroff(a);
    }
    refresh();
}

static void
sort_by(struct top_ui *ui, int col)
{
    int n = top_view_ncols(ui->view);
    if (col < 0 || col >= n)
        return;
    if (ui->sort_col[ui->view] == col)
        ui->sort_asc[ui->view] = !ui->sort_asc[ui->view];
    ui->sort_col[ui->view] = col;
}

static int
filter_key(struct top_ui *ui, int c)
{
    size_t n = strlen(ui->filter);
    if (c == 27) { /* Esc */
        ui->filter[0] = '\0';
        ui->filtering = 0;
    } else if (c == '\n' || c == '\r' || c == KEY_ENTER) {
        ui->filtering = 0;
    } else if (c == KEY_BACKSPACE || c == 127 || c == 8) {
        if (n > 0)
            ui->filter[n - 1] = '\0';
    } else if (c >= 0x20 && c < 0x7f && n + 1 < sizeof ui->filter) {
        ui->filter[n] = (char)c;
        ui->filter[n + 1] = '\0';
    }
    return 1;
}

static int
view_key(struct top_ui *ui, int c)
{
    static const char keys[V_COUNT] = {'f', 's', 'm', 'c', 'e'};
    for (int v = 0; v < V_COUNT; v++)
        if (c == keys[v] || c == keys[v] - 32) {
            ui->view = v;
            return 1;
        }
    if (c == '\t') {
        ui->view = (ui->view + 1) % V_COUNT;
        return 1;
    }
    return 0;
}

static int
one_key(struct top_ui *ui, int c)
{
    int n = top_view_ncols(ui->view);
    if (ui->filtering)
        return filter_key(ui, c);
    if (ui->help) { /* any key leaves the help screen */
        ui->help = 0;
        return c == 'q' ? 2 : 1;
    }
    if (view_key(ui, c))
        return 1;
    switch (c) {
    case 'q': return 2;
    case 'h': case '?': ui->help = 1; return 1;
    case '/': ui->filtering = 1; return 1;
    case 27: ui->filter[0] = '\0'; return 1;
    case 'p': case ' ': ui->paused = !ui->paused; return 1;
    case 'r': ui->sort_asc[ui->view] = !ui->sort_asc[ui->view]; return 1;
    case '<': case KEY_LEFT:
        ui->sort_col[ui->view] = (ui->sort_col[ui->view] + n - 1) % n;
        return 1;
    case '>': case KEY_RIGHT:
        ui->sort_col[ui->view] = (ui->sort_col[ui->view] + 1) % n;
        return 1;
    case KEY_RESIZE: return 1;
    default:
        if (c >= '1' && c <= '9') {
            sort_by(ui, c - '1');
            return 1;
        }
        return 0;
    }
}

int
top_tui_keys(struct top_ui *ui)
{
    int c, redraw = 0;
    while ((c = getch()) != ERR) {
        int r = one_key(ui, c);
        if (r == 2)
            return 2;
        redraw |= r;
    }
    return redraw;
}
