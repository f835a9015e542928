/* A program outside the clipbus tree: instruments one call, then reads
 * its own record back through the reader API. Exit 0 when it finds it. */
#include <clipbus/clipbus.h>
#include <clipbus/reader.h>
#include <stdio.h>
#include <string.h>

static int add(int a, int b)
{
    CB_MONITOR_EXECUTION(CB_INT("a", a), CB_INT("b", b));
    return a + b;
}

static int on_event(void *arg, const struct cb_event *ev)
{
    char name[32];
    if (ev->type == CB_EV_ENTRY && ev->entry->head.kind == CB_KIND_CALL &&
        strcmp(cb_segment_name_copy(ev->seg, ev->entry->head.name_id, name,
                                    sizeof name), "add") == 0)
        *(int *)arg = 1;
    return 0;
}

int main(void)
{
    struct cb_bus *bus;
    struct cb_bus_opts o = {.program = "install-test", .no_gc = 1};
    int found = 0;

    if (add(2, 3) != 5 || cb_state() != 0 || cb_bus_open(NULL, &o, &bus))
        return 1;
    cb_bus_poll(bus, on_event, &found, 0);
    cb_bus_close(bus);
    printf("found=%d\n", found);
    return found ? 0 : 1;
}
