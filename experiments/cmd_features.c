#include "core/err.h"
#include "experiments/commands.h"

#include <stdio.h>

int cmd_features(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dissect features: not yet implemented\n");
    return ND_EXIT_FAIL;
}
