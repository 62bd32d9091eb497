#include "core/err.h"
#include "experiments/commands.h"

#include <stdio.h>

int cmd_units(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dissect units: not yet implemented\n");
    return ND_EXIT_FAIL;
}
