#include "core/err.h"
#include "experiments/commands.h"

#include <stdio.h>

int cmd_compare(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dissect compare: not yet implemented\n");
    return ND_EXIT_FAIL;
}
