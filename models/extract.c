#include "models/extract.h"
#include "core/err.h"
#include "models/squeezenet.h"
#include <string.h>
int mdl_layer_field(const char *model, const char *layer, int *offset, int *size, int *stride)
{
    if (strcmp(model, "squeezenet") != 0)
        return nd_fail("unknown model '%s' (known: squeezenet)", model);
    net_t net;
    if (sqz_create(&net))
        return -1;
    int i = net_find(&net, layer);
    if (i < 0) {
        net_free(&net);
        return nd_fail("%s: unknown layer '%s'", model, layer);
    }
    *offset = net.layers[i].field_off;
    *size = net.layers[i].field_size;
    *stride = net.layers[i].field_stride;
    net_free(&net);
    return 0;
}
