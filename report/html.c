/* html.c - index.html, unit.html and data.js of a report.
 *
 * index.html is complete without script (the table is static HTML); its
 * inline script adds sorting and filtering.  unit.html draws units from
 * data.js (a script: file:// pages cannot fetch JSON) so that a 512-unit
 * report is a few files plus one sprite per unit.  Nothing is fetched from
 * the network. */
#include "report/html.h"
#include "core/afile.h"
#include "core/err.h"
#include "core/format.h"
#include "core/json.h"
#include "models/extract.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void rpt_html_esc(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

static const char css[] =
    "body{font:14px/1.4 sans-serif;margin:1.5em;color:#222;background:#fff}"
    "h1{font-size:1.5em}h2{font-size:1.15em;margin:1.2em 0 .3em}"
    "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd}"
    "th{background:#f2f2f2}#units th{cursor:pointer;user-select:none}"
    "#units th.asc:after{content:' \\25b2'}#units th.desc:after{content:' \\25bc'}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}.info th{width:9em}"
    ".strip{position:relative;line-height:0}.strip img{image-rendering:pixelated}"
    ".cell{position:absolute;top:0}.cell:hover{outline:2px solid #d33}"
    ".caps{display:flex;gap:2px;font-size:11px;color:#555}.caps div{overflow:hidden;white-space:nowrap}"
    ".unit{margin-bottom:1.5em}.pair{display:flex;gap:24px;flex-wrap:wrap}.muted{color:#777}";

void rpt_html_head(FILE *f, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", f);
    rpt_html_esc(f, title);
    fprintf(f, "</title>\n<style>%s</style>\n</head><body>\n", css);
}

/* window errors are collected for the self-test; check() and done() write
 * its verdict into <pre id="selftest"> for `chromium --dump-dom` */
const char rpt_js_common[] =
    "var ndErrors=[];window.addEventListener('error',function(e){ndErrors.push(String(e.message||e))},true);\n"
    "var ndTest={out:[],fail:0,check:function(ok,m){this.out.push((ok?'ok   ':'FAIL ')+m);if(!ok)this.fail++},\n"
    " images:function(){var im=document.images,bad=0;for(var i=0;i<im.length;i++)if(!im[i].complete||!(im[i]"
    ".naturalWidth>0))bad++;this.check(bad===0,im.length+' images, '+bad+' not decoded')},\n"
    " done:function(){this.check(ndErrors.length===0,'script errors: '+(ndErrors.join('; ')||'none'));"
    "var s=document.getElementById('selftest');s.textContent=(this.fail?'SELFTEST FAIL':'SELFTEST PASS')+'\\n'"
    "+this.out.join('\\n');s.hidden=false}};\n";

char *rpt_layer_name(const char *features)
{
    const char *base = strrchr(features, '/');
    base = base ? base + 1 : features;
    char *jp = mdl_geometry_path(features), *name = NULL;
    if (!jp)
        return NULL;
    nd_json j;
    struct stat st;
    /* the .json of `dissect features` is optional: without it, the file name */
    if (stat(jp, &st) == 0 && nd_json_read(&j, jp) == 0) {
        char *m = nd_json_get(&j, "model") ? nd_json_string(&j, "model") : NULL;
        char *l = nd_json_get(&j, "layer") ? nd_json_string(&j, "layer") : NULL;
        if (l && (name = nd_malloc(strlen(l) + (m ? strlen(m) : 0) + 2)))
            sprintf(name, "%s%s%s", m ? m : "", m ? " " : "", l);
        free(m), free(l);
        nd_json_free(&j);
    }
    nd_clear_error();
    free(jp);
    return name ? name : strdup(base);
}

/* ------------------------------------------------------------ index.html */

static void settings_table(FILE *f, const rpt_result *r, const char *layer)
{
    const nd_options *o = &r->opt;
    fputs("<table class=\"info\">\n<tr><th>dataset</th><td>", f);
    rpt_html_esc(f, r->dataset);
    fprintf(f, " (%zu images)</td></tr>\n<tr><th>layer</th><td>", r->images);
    rpt_html_esc(f, layer);
    fprintf(f, ", %zu units <span class=\"muted\">(", r->K);
    rpt_html_esc(f, r->features);
    fprintf(f, ")</span></td></tr>\n<tr><th>profile</th><td>%s", nd_profile_name(o->profile));
    if (o->profile == ND_PROFILE_NETDISSECT)
        fprintf(f, " (receptive-field bilinear upsampling; field offset %d, size %d, stride %d)", o->field_offset,
                o->field_size, o->field_stride);
    else
        fputs(" (image-resize bilinear upsampling)", f);
    fputs("</td></tr>\n<tr><th>thresholds</th><td>", f);
    if (r->thresholds_given)
        fputs("given per unit", f);
    else
        fprintf(f, "exact top-%g quantile per unit (level %g, linear between order statistics)", o->quantile,
                1 - o->quantile);
    fprintf(f, "; mask = upsampled map &gt; threshold</td></tr>\n<tr><th>detector</th><td>IoU &gt; %g</td></tr>\n",
            o->iou_threshold);
    if (r->seed >= 0)
        fprintf(f, "<tr><th>rotation</th><td>Q<sup>&alpha;</sup>, &alpha; = %g, Q = rot_haar(K, seed %ld)</td></tr>\n",
                r->alpha, r->seed);
    else
        fputs("<tr><th>rotation</th><td>none (the layer's own basis)</td></tr>\n", f);
    fputs("</table>\n", f);
}

/* Grouped bars per category: detectors, unique per-category, unique top-label. */
static void bar_chart(FILE *f, const rpt_result *r)
{
    static const char *col[3] = {"#999", "#3a7bd5", "#e8913a"};
    static const char *what[3] = {"detectors", "unique (per-category)", "unique (top-label)"};
    int mx = 1;
    for (size_t c = 0; c < r->C; c++)
        mx = r->cat_det[c] > mx ? r->cat_det[c] : mx;
    int bw = 18, gw = 3 * bw + 30, H = 160, W = 50 + (int)r->C * gw;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n", W, H + 60);
    fprintf(f, "<line x1=\"40\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n", H + 10, W, H + 10);
    fprintf(f, "<text x=\"34\" y=\"14\" text-anchor=\"end\" font-size=\"11\">%d</text>"
               "<text x=\"34\" y=\"%d\" text-anchor=\"end\" font-size=\"11\">0</text>\n", mx, H + 10);
    for (size_t c = 0; c < r->C; c++) {
        int v[3] = {r->cat_det[c], r->cat_upc[c], r->cat_utl[c]}, x = 50 + (int)c * gw;
        for (int b = 0; b < 3; b++) {
            int h = v[b] * H / mx;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>", x + b * bw,
                    H + 10 - h, bw - 2, h, col[b]);
            rpt_html_esc(f, r->cat_name[c]);
            fprintf(f, ": %d %s</title></rect><text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%d</text>\n",
                    v[b], what[b], x + b * bw + bw / 2 - 1, H + 6 - h, v[b]);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", x + 3 * bw / 2, H + 26);
        rpt_html_esc(f, r->cat_name[c]);
        fputs("</text>\n", f);
    }
    for (int b = 0; b < 3; b++)
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" "
                   "font-size=\"11\">%s</text>\n", 50 + b * 150, H + 40, col[b], 64 + b * 150, H + 49, what[b]);
    fputs("</svg>\n", f);
}

static void counts_section(FILE *f, const rpt_result *r)
{
    fprintf(f, "<p><b>%d</b> detectors (IoU &gt; %g); unique detectors: <b>%d</b> per-category (the headline: "
               "distinct labels per category, summed), <b>%d</b> top-label (distinct labels among detectors).</p>\n",
            r->detectors, r->opt.iou_threshold, r->unique_percat, r->unique_toplabel);
    fputs("<table><tr><th>category</th><th>detectors</th><th>unique per-category</th><th>unique top-label</th></tr>\n", f);
    for (size_t c = 0; c < r->C; c++) {
        fputs("<tr><td>", f);
        rpt_html_esc(f, r->cat_name[c]);
        fprintf(f, "</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td></tr>\n", r->cat_det[c],
                r->cat_upc[c], r->cat_utl[c]);
    }
    fputs("</table>\n", f);
    bar_chart(f, r);
}

static const char index_js[] =
    "(function(){var tbl=document.getElementById('units'),tb=tbl.tBodies[0],ths=tbl.tHead.rows[0].cells,\n"
    " K=+tbl.getAttribute('data-units'),sel=document.getElementById('cat'),chk=document.getElementById('det'),\n"
    " shown=document.getElementById('shown'),dir={};\n"
    "function val(tr,k,num){var t=tr.cells[k].textContent;return num?parseFloat(t):t.toLowerCase()}\n"
    "function unit(tr){return parseInt(tr.cells[0].textContent,10)}\n"
    "function sortBy(k){var num=ths[k].getAttribute('data-t')==='n',d=dir[k]?-dir[k]:(num?-1:1);dir={};dir[k]=d;\n"
    " var rows=Array.prototype.slice.call(tb.rows);rows.sort(function(a,b){var x=val(a,k,num),y=val(b,k,num);\n"
    "  return x<y?-d:x>y?d:unit(a)-unit(b)});\n"
    " rows.forEach(function(r){tb.appendChild(r)});\n"
    " for(var i=0;i<ths.length;i++)ths[i].className=i===k?(d>0?'asc':'desc'):''}\n"
    "function filter(){var c=sel.value,det=chk.checked,n=0;for(var i=0;i<tb.rows.length;i++){var r=tb.rows[i],\n"
    "  on=(!c||r.getAttribute('data-cat')===c)&&(!det||r.getAttribute('data-det')==='1');r.hidden=!on;n+=on?1:0}\n"
    " shown.textContent=n+' of '+K+' units shown';return n}\n"
    "for(var i=0;i<ths.length;i++)ths[i].addEventListener('click',sortBy.bind(null,i));\n"
    "sel.addEventListener('change',filter);chk.addEventListener('change',filter);filter();\n"
    "window.addEventListener('load',function(){if(location.hash!=='#selftest')return;var T=ndTest;\n"
    " T.check(tb.rows.length===K,'unit table has '+tb.rows.length+' rows, expected '+K);\n"
    " var order=function(){return Array.prototype.map.call(tb.rows,unit).join(',')},before=order();\n"
    " sortBy(0);var desc=order();sortBy(0);var asc=order();\n"
    " T.check(K<2||(desc!==before||asc!==before),'sorting by unit changes the order');\n"
    " T.check(asc===Array.prototype.map.call(tb.rows,function(_,i){return i+1}).join(','),'ascending sort gives units 1..K');\n"
    " for(var k=1;k<ths.length;k++){sortBy(k);var ok=true,num=ths[k].getAttribute('data-t')==='n';\n"
    "  for(var i=1;i<tb.rows.length;i++){var a=val(tb.rows[i-1],k,num),b=val(tb.rows[i],k,num);if(num?a<b:a>b)ok=false}\n"
    "  T.check(ok,'sorted by '+ths[k].textContent.trim())}\n"
    " if(sel.options.length>1){sel.selectedIndex=1;var n=filter(),want=0;for(var i=0;i<tb.rows.length;i++)\n"
    "  want+=tb.rows[i].getAttribute('data-cat')===sel.value?1:0;T.check(n===want,'filter by '+sel.value+' shows '+n+' of '+want);\n"
    "  sel.selectedIndex=0;filter()}\n"
    " T.images();T.done()})})();\n";

static void unit_table(FILE *f, const rpt_result *r)
{
    fputs("<h2 id=\"table\">Units</h2>\n<p>category <select id=\"cat\"><option value=\"\">all</option>", f);
    for (size_t c = 0; c < r->C; c++) {
        fputs("<option>", f);
        rpt_html_esc(f, r->cat_name[c]);
        fputs("</option>", f);
    }
    fputs("</select> <label><input type=\"checkbox\" id=\"det\"> detectors only</label> <span id=\"shown\" "
          "class=\"muted\"></span> &middot; <a href=\"unit.html\">all units with their images</a>. "
          "Click a column to sort.</p>\n", f);
    fprintf(f, "<table id=\"units\" data-units=\"%zu\"><thead><tr><th data-t=\"n\">unit</th><th>label</th>"
               "<th>category</th><th data-t=\"n\">IoU</th><th data-t=\"n\">threshold</th></tr></thead><tbody>\n", r->K);
    size_t *order = nd_malloc(r->K * sizeof *order);
    for (size_t q = 0; order && q < r->K; q++) {
        /* best first, as result.csv lists them (insertion: stable, small K) */
        size_t u = q, p = q;
        while (p > 0 && r->unit_score[order[p - 1]] < r->unit_score[u])
            order[p] = order[p - 1], p--;
        order[p] = u;
    }
    for (size_t q = 0; order && q < r->K; q++) {
        size_t u = order[q];
        fputs("<tr data-cat=\"", f);
        rpt_html_esc(f, r->unit_cat[u]);
        fprintf(f, "\" data-det=\"%d\"><td class=\"n\"><a href=\"unit.html#u=%zu\">%zu</a></td><td>",
                r->unit_score[u] > r->opt.iou_threshold, u + 1, u + 1);
        rpt_html_esc(f, r->unit_label[u]);
        fputs("</td><td>", f);
        rpt_html_esc(f, r->unit_cat[u]);
        fprintf(f, "</td><td class=\"n\">%.4f</td><td class=\"n\">%.5g</td></tr>\n", r->unit_score[u], r->thr[u]);
    }
    free(order);
    fputs("</tbody></table>\n", f);
}

static int write_index(const rpt_page *pg, const char *path)
{
    const rpt_result *r = pg->r;
    char *layer = rpt_layer_name(r->features);
    afile a;
    if (!layer || afile_open(&a, path)) {
        free(layer);
        return -1;
    }
    FILE *f = a.f;
    char title[512];
    snprintf(title, sizeof title, "Dissection of %s", layer);
    rpt_html_head(f, title);
    fprintf(f, "<script>%s</script>\n<h1>", rpt_js_common);
    rpt_html_esc(f, title);
    fputs("</h1>\n", f);
    settings_table(f, r, layer);
    counts_section(f, r);
    unit_table(f, r);
    fprintf(f, "<pre id=\"selftest\" hidden></pre>\n<script>%s</script>\n</body></html>\n", index_js);
    free(layer);
    return afile_commit(&a);
}

/* ------------------------------------------------------ unit.html, data.js */

static const char unit_js[] =
    "(function(){var D=ND,box=document.getElementById('list'),nav=document.getElementById('nav');\n"
    "function esc(s){return String(s).replace(/[&<>\"]/g,function(c){return{'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c]})}\n"
    "function pad(u){return ('000'+u).slice(-4)}\n"
    "function iou(x){return x<0?'-':x.toFixed(3)}\n"
    "function html(U,lazy){var w=U.w,h=U.h,g=D.gap,n=U.cells.length,W=n*(w+g)-g,H=2*h+g,\n"
    " s='<section class=\"unit\" id=\"u'+U.u+'\"><h2><a href=\"#u='+U.u+'\">unit '+U.u+'</a>: '+esc(U.label)+\n"
    "  ' <span class=\"muted\">('+esc(U.cat)+')</span></h2><p>IoU '+U.iou.toFixed(4)+(U.det?' &middot; <b>detector</b>':'')+\n"
    "  ' &middot; threshold '+U.thr.toPrecision(6)+' &middot; top '+n+' images by maximum activation. Top row: the'+\n"
    "  ' unit\\'s mask (outside darkened, edge in yellow); bottom row: ground truth of '+esc(U.label||'its label')+\n"
    "  ' (blue) with the mask edge. Hover an image for its name.</p>'+\n"
    "  '<div class=\"strip\" style=\"width:'+W+'px\"><img src=\"sprites/u'+pad(U.u)+'.png\" width=\"'+W+'\" height=\"'+H+\n"
    "  '\" alt=\"unit '+U.u+'\"'+(lazy?' loading=\"lazy\"':'')+'>';\n"
    " U.cells.forEach(function(c,j){s+='<div class=\"cell\" style=\"left:'+j*(w+g)+'px;width:'+w+'px;height:'+H+\n"
    "  'px\" title=\"'+esc(c[1])+'&#10;max activation '+c[2].toPrecision(5)+'&#10;IoU with '+esc(U.label)+\n"
    "  ' in this image '+iou(c[3])+'\"></div>'});\n"
    " s+='</div><div class=\"caps\" style=\"width:'+W+'px\">';\n"
    " U.cells.forEach(function(c){s+='<div style=\"width:'+w+'px\">max '+c[2].toPrecision(3)+'<br>IoU '+iou(c[3])+'</div>'});\n"
    " return s+'</div></section>'}\n"
    "function show(){var m=/^#u=(\\d+)$/.exec(location.hash),all=!m,test=location.hash==='#selftest';\n"
    " if(m){var u=+m[1],U=D.units[u-1];if(!U){box.innerHTML='<p>no unit '+u+'</p>';return}\n"
    "  box.innerHTML=html(U,false);nav.innerHTML=(u>1?'<a href=\"#u='+(u-1)+'\">&larr; unit '+(u-1)+'</a> ':'')+\n"
    "   (u<D.units.length?'<a href=\"#u='+(u+1)+'\">unit '+(u+1)+' &rarr;</a>':'');document.title='unit '+u+': '+U.label;return}\n"
    " var byIoU=D.units.slice().sort(function(a,b){return b.iou-a.iou||a.u-b.u});\n"
    " box.innerHTML=byIoU.map(function(U){return html(U,!test)}).join('');nav.textContent='all '+D.units.length+' units, best IoU first'}\n"
    "window.addEventListener('hashchange',show);show();\n"
    "window.addEventListener('load',function(){if(location.hash!=='#selftest')return;var T=ndTest;\n"
    " T.check(document.querySelectorAll('section.unit').length===D.units.length,'all '+D.units.length+' units drawn');\n"
    " T.images();T.done()})})();\n";

static int write_unit_page(const char *path, const char *layer)
{
    afile a;
    if (afile_open(&a, path))
        return -1;
    char title[512];
    snprintf(title, sizeof title, "Units of %s", layer);
    rpt_html_head(a.f, title);
    fprintf(a.f, "<script>%s</script>\n<script src=\"data.js\"></script>\n"
                 "<p><a href=\"index.html\">index</a> &middot; <a href=\"unit.html\">all units</a> &middot; "
                 "<span id=\"nav\"></span></p>\n<div id=\"list\"></div>\n<pre id=\"selftest\" hidden></pre>\n"
                 "<script>%s</script>\n</body></html>\n", rpt_js_common, unit_js);
    return afile_commit(&a);
}

static int write_data(const rpt_page *pg, const char *path)
{
    const rpt_result *r = pg->r;
    afile a;
    if (afile_open(&a, path))
        return -1;
    FILE *f = a.f;
    fprintf(f, "var ND = {\"format\": \"report\", \"%s\": %d, \"gap\": %d, \"scale\": %d, \"units\": [\n",
            ND_FORMAT_KEY, ND_FORMAT_REPORT, RPT_GAP, pg->scale);
    for (size_t u = 0; u < r->K; u++) {
        int cw = 1, ch = 1;
        for (size_t s = 0; s < pg->k; s++) {
            int sh, sw;
            broden_image_size(pg->ds, pg->top[u * pg->k + s], NULL, NULL, &sh, &sw);
            cw = sw * pg->scale > cw ? sw * pg->scale : cw, ch = sh * pg->scale > ch ? sh * pg->scale : ch;
        }
        fprintf(f, "%s{\"u\": %zu, \"label\": ", u ? ",\n" : "", u + 1);
        nd_json_str(f, r->unit_label[u]);
        fputs(", \"cat\": ", f);
        nd_json_str(f, r->unit_cat[u]);
        fprintf(f, ", \"iou\": %.6g, \"thr\": %.9g, \"det\": %d, \"w\": %d, \"h\": %d, \"cells\": [", r->unit_score[u],
                r->thr[u], r->unit_score[u] > r->opt.iou_threshold, cw, ch);
        for (size_t s = 0; s < pg->k; s++) {
            const rpt_cell *c = &pg->cells[u * pg->k + s];
            fprintf(f, "%s[%zu, ", s ? ", " : "", c->img);
            nd_json_str(f, broden_image_name(pg->ds, c->img));
            fprintf(f, ", %.6g, %.4f, %zu, %zu]", (double)c->maxact, c->iou, c->mask_px, c->gt_px);
        }
        fputs("]}", f);
    }
    fputs("\n]};\n", f);
    return afile_commit(&a);
}

int rpt_write_pages(const rpt_page *pg, const char *dir)
{
    char *pi = nd_path_join(dir, "index.html"), *pu = nd_path_join(dir, "unit.html"),
         *pd = nd_path_join(dir, "data.js"), *pm = nd_path_join(dir, RPT_MARKER);
    char *layer = rpt_layer_name(pg->r->features);
    static const char marker[] = "a report written by dissect report; replaced whole by the next one\n";
    int rc = !pi || !pu || !pd || !pm || !layer || write_index(pg, pi) || write_unit_page(pu, layer) ||
                     write_data(pg, pd) || afile_write_all(pm, marker, sizeof marker - 1)
                 ? -1
                 : 0;
    free(pi), free(pu), free(pd), free(pm), free(layer);
    return rc;
}
