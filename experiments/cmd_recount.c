#include "core/err.h"
#include "experiments/commands.h"

#include <stdio.h>

int cmd_recount(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dissect recount: not yet implemented\n");
    return ND_EXIT_FAIL;
}
