/* Validation criteria: arena, JSON tree with Python json.loads semantics, JSON writer. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "criteria_internal.h"

/* ---- arena ------------------------------------------------------------------------------- */

struct cr_arena_block {
  cr_arena_block *next;
  size_t cap;
  max_align_t data[];
};

void cr_arena_init(cr_arena *a) { memset(a, 0, sizeof(*a)); }

void cr_arena_free(cr_arena *a) {
  cr_arena_block *b = a->head;
  while (b) {
    cr_arena_block *n = b->next;
    escrow__free(b);
    b = n;
  }
  memset(a, 0, sizeof(*a));
}

void *cr_alloc(cr_arena *a, size_t n) {
  n = (n + 7) & ~(size_t)7;
  if (n == 0)
    n = 8;
  if (!a->head || a->cap - a->used < n) {
    size_t cap = a->total < 4096 ? 4096 : (a->total > (1u << 20) ? (1u << 20) : a->total);
    if (cap < n)
      cap = n;
    cr_arena_block *b = escrow__malloc(sizeof(*b) + cap);
    if (!b) {
      escrow__err_nomem();
      return NULL;
    }
    b->cap = cap;
    b->next = a->head;
    a->head = b;
    a->used = 0;
    a->cap = cap;
    a->total += cap;
  }
  void *p = (char *)a->head->data + a->used;
  a->used += n;
  return p;
}

char *cr_strndup(cr_arena *a, const char *s, size_t n) {
  char *d = cr_alloc(a, n + 1);
  if (d) {
    if (n)
      memcpy(d, s, n);
    d[n] = 0;
  }
  return d;
}

/* ---- parser ------------------------------------------------------------------------------- */

/* Children of open containers sit on one byte stack: a list's items as cv, a dict's members as
 * cv_member. When a container closes they move into the arena. */
typedef struct frame {
  size_t start; /* offset in stack */
  size_t count;
  bool is_dict;
} frame;

typedef struct pstate {
  cr_arena *a;
  const cr_parse_limits *lim;
  const char *what;
  uint8_t *stack;
  size_t slen, scap;
  frame *frames;
  size_t nframes, fcap;
  const char *key; /* pending key of the current dict */
  uint32_t klen;
  cv root;
  bool have_root;
  int err; /* our own error (limits, NOMEM), 0 if yajl's */
  const char **keys; /* interned short keys (records repeat them), open addressing */
  size_t nkeys;
  size_t total; /* bytes fed so far */
  /* NaN, Infinity and -Infinity, which Python's json accepts, reach yajl as "0" tokens: the
   * ordinals of those number tokens and what they stand for */
  uint64_t nnum;   /* number tokens seen by cb_number */
  uint64_t *spec;  /* ordinal << 2 | kind (1 NaN, 2 +inf, 3 -inf), in order */
  size_t nspec, capspec, nextspec;
} pstate;

#define KEY_TABLE 256
#define KEY_INTERN_MAX 64

static int ps_fail(pstate *p, int code) {
  if (!p->err)
    p->err = code;
  return 0;
}

static void *ps_push(pstate *p, size_t n) {
  if (p->scap - p->slen < n) {
    size_t cap = p->scap ? p->scap * 2 : 4096;
    while (cap - p->slen < n)
      cap *= 2;
    uint8_t *s = escrow__realloc(p->stack, cap);
    if (!s) {
      escrow__err_nomem();
      return NULL;
    }
    p->stack = s;
    p->scap = cap;
  }
  void *r = p->stack + p->slen;
  p->slen += n;
  return r;
}

static int ps_value(pstate *p, const cv *v) {
  if (p->nframes == 0) {
    p->root = *v;
    p->have_root = true;
    return 1;
  }
  frame *f = &p->frames[p->nframes - 1];
  if (f->is_dict) {
    cv_member *m = ps_push(p, sizeof(cv_member));
    if (!m)
      return ps_fail(p, ESCROW_E_NOMEM);
    m->key = p->key;
    m->klen = p->klen;
    m->val = *v;
  } else {
    cv *it = ps_push(p, sizeof(cv));
    if (!it)
      return ps_fail(p, ESCROW_E_NOMEM);
    *it = *v;
  }
  if (++f->count > UINT32_MAX - 1) {
    escrow__err(ESCROW_E_LIMIT, "%s: a container has too many members", p->what);
    return ps_fail(p, ESCROW_E_LIMIT);
  }
  return 1;
}

static int cb_null(void *ctx) {
  cv v = {.kind = CV_NULL};
  return ps_value(ctx, &v);
}

static int cb_bool(void *ctx, int b) {
  cv v = {.kind = CV_BOOL};
  v.u.i = b ? 1 : 0;
  return ps_value(ctx, &v);
}

static int cb_number(void *ctx, const char *s, size_t len) {
  pstate *p = ctx;
  uint64_t ord = p->nnum++;
  if (p->nextspec < p->nspec && (p->spec[p->nextspec] >> 2) == ord) {
    int kind = (int)(p->spec[p->nextspec++] & 3);
    cv v = {.kind = CV_FLOAT};
    v.u.d = kind == 1 ? NAN : (kind == 2 ? INFINITY : -INFINITY);
    return ps_value(p, &v);
  }
  if (len > p->lim->max_number_len) {
    escrow__err(ESCROW_E_LIMIT, "%s: a number has %zu characters, more than the limit of %zu",
                p->what, len, p->lim->max_number_len);
    return ps_fail(p, ESCROW_E_LIMIT);
  }
  bool is_float = memchr(s, '.', len) || memchr(s, 'e', len) || memchr(s, 'E', len);
  cv v = {.kind = is_float ? CV_FLOAT : CV_INT};
  char small[64];
  char *tmp = small;
  if (len >= sizeof(small)) {
    tmp = escrow__malloc(len + 1);
    if (!tmp) {
      escrow__err_nomem();
      return ps_fail(p, ESCROW_E_NOMEM);
    }
  }
  memcpy(tmp, s, len);
  tmp[len] = 0;
  if (is_float) {
    v.u.d = strtod(tmp, NULL); /* overflow gives ±inf, as Python's float() */
  } else {
    size_t digits = len - (s[0] == '-');
    if (digits <= 18) {
      v.u.i = strtoll(tmp, NULL, 10);
    } else {
      const char *d = cr_strndup(p->a, tmp, len);
      if (!d) {
        if (tmp != small)
          escrow__free(tmp);
        return ps_fail(p, ESCROW_E_NOMEM);
      }
      v.flags = CVF_BIGINT;
      v.u.s = d;
      v.n = (uint32_t)len;
    }
  }
  if (tmp != small)
    escrow__free(tmp);
  return ps_value(p, &v);
}

static int cb_string(void *ctx, const unsigned char *s, size_t len) {
  pstate *p = ctx;
  if (len > UINT32_MAX - 1) {
    escrow__err(ESCROW_E_LIMIT, "%s: a string is too long", p->what);
    return ps_fail(p, ESCROW_E_LIMIT);
  }
  const char *d = cr_strndup(p->a, (const char *)s, len);
  if (!d)
    return ps_fail(p, ESCROW_E_NOMEM);
  cv v = {.kind = CV_STR, .n = (uint32_t)len};
  v.u.s = d;
  return ps_value(p, &v);
}

static int ps_open(pstate *p, bool is_dict) {
  if (p->nframes >= p->lim->max_depth) {
    escrow__err(ESCROW_E_LIMIT, "%s: nesting deeper than the limit of %zu", p->what,
                p->lim->max_depth);
    return ps_fail(p, ESCROW_E_LIMIT);
  }
  if (p->nframes == p->fcap) {
    size_t cap = p->fcap ? p->fcap * 2 : 16;
    frame *f = escrow__realloc(p->frames, cap * sizeof(*f));
    if (!f) {
      escrow__err_nomem();
      return ps_fail(p, ESCROW_E_NOMEM);
    }
    p->frames = f;
    p->fcap = cap;
  }
  /* the key of the parent dict must survive the children: it is already in the arena */
  frame *f = &p->frames[p->nframes++];
  f->start = p->slen;
  f->count = 0;
  f->is_dict = is_dict;
  /* save the pending key of the parent on the stack, restored at close */
  struct {
    const char *key;
    uint32_t klen;
  } *save = ps_push(p, 16);
  if (!save)
    return ps_fail(p, ESCROW_E_NOMEM);
  save->key = p->key;
  save->klen = p->klen;
  f->start = p->slen;
  return 1;
}

static uint64_t hash_key(const char *s, uint32_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (uint32_t i = 0; i < n; i++) {
    h ^= (uint8_t)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* Python dict(pairs): a repeated key keeps its first position and takes the last value. */
static int dedupe(cv_member *m, size_t *count) {
  size_t n = *count;
  if (n < 2)
    return 0;
  bool any = false;
  if (n <= 24) {
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
      size_t j;
      for (j = 0; j < out; j++)
        if (m[j].klen == m[i].klen && memcmp(m[j].key, m[i].key, m[i].klen) == 0)
          break;
      if (j < out) {
        m[j].val = m[i].val;
        any = true;
      } else {
        m[out++] = m[i];
      }
    }
    *count = out;
    (void)any;
    return 0;
  }
  size_t cap = 64;
  while (cap < n * 2)
    cap *= 2;
  uint32_t *tab = escrow__calloc(cap, sizeof(uint32_t));
  if (!tab)
    return escrow__err_nomem();
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    size_t h = (size_t)hash_key(m[i].key, m[i].klen) & (cap - 1);
    for (;;) {
      uint32_t t = tab[h];
      if (t == 0) {
        m[out] = m[i];
        tab[h] = (uint32_t)(++out);
        break;
      }
      cv_member *e = &m[t - 1];
      if (e->klen == m[i].klen && memcmp(e->key, m[i].key, m[i].klen) == 0) {
        e->val = m[i].val;
        break;
      }
      h = (h + 1) & (cap - 1);
    }
  }
  escrow__free(tab);
  *count = out;
  return 0;
}

static int ps_close(pstate *p) {
  frame f = p->frames[--p->nframes];
  cv v = {.kind = f.is_dict ? CV_DICT : CV_LIST};
  size_t esz = f.is_dict ? sizeof(cv_member) : sizeof(cv);
  size_t count = f.count;
  if (f.is_dict && dedupe((cv_member *)(p->stack + f.start), &count) != 0)
    return ps_fail(p, ESCROW_E_NOMEM);
  void *arr = NULL;
  if (count) {
    arr = cr_alloc(p->a, count * esz);
    if (!arr)
      return ps_fail(p, ESCROW_E_NOMEM);
    memcpy(arr, p->stack + f.start, count * esz);
  }
  v.n = (uint32_t)count;
  if (f.is_dict)
    v.u.members = arr;
  else
    v.u.items = arr;
  struct {
    const char *key;
    uint32_t klen;
  } save;
  memcpy(&save, p->stack + f.start - 16, sizeof(save));
  p->slen = f.start - 16;
  p->key = save.key;
  p->klen = save.klen;
  return ps_value(p, &v);
}

static int cb_start_map(void *ctx) { return ps_open(ctx, true); }
static int cb_end_map(void *ctx) { return ps_close(ctx); }
static int cb_start_array(void *ctx) { return ps_open(ctx, false); }
static int cb_end_array(void *ctx) { return ps_close(ctx); }

static uint64_t hash_key(const char *s, uint32_t n);

static int cb_map_key(void *ctx, const unsigned char *s, size_t len) {
  pstate *p = ctx;
  if (len > UINT32_MAX - 1) {
    escrow__err(ESCROW_E_LIMIT, "%s: a key is too long", p->what);
    return ps_fail(p, ESCROW_E_LIMIT);
  }
  size_t slot = 0;
  if (len <= KEY_INTERN_MAX) {
    if (!p->keys) {
      p->keys = escrow__calloc(KEY_TABLE, sizeof(char *));
      if (!p->keys) {
        escrow__err_nomem();
        return ps_fail(p, ESCROW_E_NOMEM);
      }
    }
    slot = (size_t)hash_key((const char *)s, (uint32_t)len) & (KEY_TABLE - 1);
    for (size_t probe = 0; probe < 8; probe++) {
      const char *k = p->keys[(slot + probe) & (KEY_TABLE - 1)];
      if (!k)
        break;
      if (strlen(k) == len && memcmp(k, s, len) == 0 && memchr(s, 0, len) == NULL) {
        p->key = k;
        p->klen = (uint32_t)len;
        return 1;
      }
    }
  }
  const char *d = cr_strndup(p->a, (const char *)s, len);
  if (d && len <= KEY_INTERN_MAX && p->nkeys < KEY_TABLE / 2 && !memchr(s, 0, len)) {
    for (size_t probe = 0; probe < 8; probe++) {
      const char **k = &p->keys[(slot + probe) & (KEY_TABLE - 1)];
      if (!*k) {
        *k = d;
        p->nkeys++;
        break;
      }
    }
  }
  if (!d)
    return ps_fail(p, ESCROW_E_NOMEM);
  p->key = d;
  p->klen = (uint32_t)len;
  return 1;
}

static const yajl_callbacks callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string, cb_start_map, cb_map_key, cb_end_map,
    cb_start_array, cb_end_array};

/* ---- Python's extra number literals ------------------------------------------------------- */

/* A streaming rewrite of the input that yajl then parses: outside strings, the literals NaN,
 * Infinity and -Infinity become "0" / "-0" number tokens whose ordinals are recorded, so that
 * cb_number gives them their Python values. Everything else passes through unchanged; a
 * partial literal that does not complete is passed on as it was (yajl then reports it). */
typedef struct xform {
  bool in_string, in_number;
  char held[12]; /* a literal being matched: "-", "N", "Na", "-Inf", ... */
  size_t nheld;
  char esc[12]; /* inside a string: an escape being read, up to "\\uD83D\\uDE00" */
  size_t nesc;
} xform;

static int hex4(const char *h) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = h[i];
    int d = (c >= '0' && c <= '9') ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Inside a string: escapes pass through, except a high surrogate escape that no low one
 * follows. yajl would turn it into '?'; Python keeps the code point, so it goes to yajl as
 * its raw 3-byte form (which yajl keeps, as it does for a lone low surrogate). Returns the
 * number of bytes written to out; *reparse receives escape bytes to run again. */
static size_t esc_step(xform *x, char c, char *out, char *reparse, size_t *nreparse) {
  *nreparse = 0;
  x->esc[x->nesc++] = c;
  if (x->nesc == 2 && c != 'u') { /* \n, \", \\ ...: done */
    memcpy(out, x->esc, 2);
    x->nesc = 0;
    return 2;
  }
  if (x->nesc < 6)
    return 0;
  int hi = hex4(x->esc + 2);
  if (hi < 0xD800 || hi > 0xDBFF) { /* not a high surrogate (or bad hex: yajl reports it) */
    size_t n = x->nesc;
    memcpy(out, x->esc, n);
    x->nesc = 0;
    return n;
  }
  bool lone = false;
  if (x->nesc == 7 && c != '\\')
    lone = true;
  else if (x->nesc == 8 && c != 'u')
    lone = true;
  else if (x->nesc == 12) {
    int lo = hex4(x->esc + 8);
    if (lo >= 0xDC00 && lo <= 0xDFFF) { /* a pair: yajl decodes it */
      memcpy(out, x->esc, 12);
      x->nesc = 0;
      return 12;
    }
    lone = true;
  }
  if (!lone)
    return 0;
  out[0] = (char)0xED;
  out[1] = (char)(0x80 | ((hi >> 6) & 0x3F));
  out[2] = (char)(0x80 | (hi & 0x3F));
  *nreparse = x->nesc - 6;
  memcpy(reparse, x->esc + 6, *nreparse);
  x->nesc = 0;
  return 3;
}

static int spec_add(pstate *p, uint64_t ord, int kind) {
  if (p->nspec == p->capspec) {
    size_t cap = p->capspec ? p->capspec * 2 : 8;
    uint64_t *n = escrow__realloc(p->spec, cap * sizeof(uint64_t));
    if (!n)
      return escrow__err_nomem();
    p->spec = n;
    p->capspec = cap;
  }
  p->spec[p->nspec++] = ord << 2 | (uint64_t)kind;
  return 0;
}

/* Rewrite in[0..n) into out (room for n + 64 bytes); *outn gets the length. fin: end of input
 * (flush what is held). Counts number tokens in *numbers. */
static int xform_run(xform *x, pstate *p, uint64_t *numbers, const char *in, size_t n,
                     bool fin, char *out, size_t *outn) {
  size_t o = 0;
  char again[12];
  size_t nagain = 0, ai = 0;
  for (size_t i = 0; i < n || ai < nagain;) {
    char c;
    if (ai < nagain) {
      c = again[ai++]; /* bytes of an escape handed back by esc_step */
    } else {
      c = in[i++];
      nagain = ai = 0;
    }
    if (x->in_string) {
      if (x->nesc || c == '\\') {
        char back[12];
        size_t nback = 0;
        o += esc_step(x, c, out + o, back, &nback);
        if (nback) { /* run them again before the rest of the input */
          memmove(again, back, nback);
          nagain = nback;
          ai = 0;
        }
        continue;
      }
      out[o++] = c;
      if (c == '"')
        x->in_string = false;
      continue;
    }
    if (x->nheld) {
      static const char *const lits[] = {"NaN", "Infinity", "-Infinity"};
      x->held[x->nheld] = c;
      size_t k = x->nheld + 1;
      int match = -1;
      bool prefix = false;
      for (int l = 0; l < 3; l++) {
        size_t ll = strlen(lits[l]);
        if (k <= ll && !memcmp(lits[l], x->held, k)) {
          prefix = true;
          if (k == ll)
            match = l;
        }
      }
      if (match >= 0) {
        if (spec_add(p, (*numbers)++, match + 1))
          return ESCROW_E_NOMEM;
        if (match == 2)
          out[o++] = '-';
        out[o++] = '0';
        x->nheld = 0;
        continue;
      }
      if (prefix) {
        x->nheld = k;
        continue;
      }
      /* not a literal: pass on what was held, then handle c normally */
      bool minus_number = x->nheld == 1 && x->held[0] == '-';
      memcpy(out + o, x->held, x->nheld);
      o += x->nheld;
      x->nheld = 0;
      if (minus_number) {
        (*numbers)++;
        x->in_number = true;
      }
    }
    if (x->in_number) {
      if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
        out[o++] = c;
        continue;
      }
      x->in_number = false;
    }
    if (c == '"') {
      x->in_string = true;
      out[o++] = c;
    } else if (c == 'N' || c == 'I' || c == '-') {
      x->held[0] = c;
      x->nheld = 1;
    } else if (c >= '0' && c <= '9') {
      (*numbers)++;
      x->in_number = true;
      out[o++] = c;
    } else {
      out[o++] = c;
    }
  }
  if (fin && x->nesc) {
    memcpy(out + o, x->esc, x->nesc);
    o += x->nesc;
    x->nesc = 0;
  }
  if (fin && x->nheld) {
    memcpy(out + o, x->held, x->nheld);
    o += x->nheld;
    if (x->nheld == 1 && x->held[0] == '-')
      (*numbers)++;
    x->nheld = 0;
  }
  *outn = o;
  return 0;
}

/* Read from fd when text is NULL, in chunks, so a large document is never held whole. */
static int parse_any(cr_arena *a, const char *text, size_t len, int fd,
                     const cr_parse_limits *lim, const char *what, cv **out) {
  *out = NULL;
  if (text && len > lim->max_bytes)
    return escrow__err(ESCROW_E_LIMIT, "%s: %zu bytes, more than the limit of %zu", what, len,
                       lim->max_bytes);
  pstate p;
  memset(&p, 0, sizeof(p));
  p.a = a;
  p.lim = lim;
  p.what = what;
  /* yajl keeps its default allocator: it does not check every allocation it makes, so
   * failures are not injected into it (its buffers are small and bounded by the depth) */
  yajl_handle h = yajl_alloc(&callbacks, NULL, &p);
  if (!h)
    return escrow__err_nomem();
  yajl_status st = yajl_status_ok;
  int rc = 0;
  enum { CHUNK = 65536 };
  unsigned char *chunk = text ? NULL : escrow__malloc(CHUNK);
  char *xbuf = escrow__malloc(CHUNK + 64); /* carried escape and literal bytes */
  if ((!text && !chunk) || !xbuf) {
    yajl_free(h);
    escrow__free(chunk);
    escrow__free(xbuf);
    return escrow__err_nomem();
  }
  xform x;
  memset(&x, 0, sizeof(x));
  uint64_t numbers = 0;
  size_t pos = 0, fed = 0, xn = 0;
  for (;;) {
    const char *in;
    size_t got = 0;
    if (text) {
      got = len - pos < CHUNK ? len - pos : CHUNK;
      in = text + pos;
      pos += got;
    } else {
      rc = escrow__read_full(fd, chunk, CHUNK, &got, what);
      if (rc)
        break;
      p.total += got;
      if (p.total > lim->max_bytes) {
        rc = escrow__err(ESCROW_E_LIMIT, "%s: more than the limit of %zu bytes", what,
                         lim->max_bytes);
        break;
      }
      in = (const char *)chunk;
    }
    bool fin = got == 0 || (text && pos == len);
    rc = xform_run(&x, &p, &numbers, in, got, fin, xbuf, &xn);
    if (rc)
      break;
    if (xn) {
      st = yajl_parse(h, (const unsigned char *)xbuf, xn);
      fed += xn;
      if (st != yajl_status_ok)
        break;
    }
    if (fin)
      break;
  }
  if (rc == 0 && st == yajl_status_ok)
    st = yajl_complete_parse(h);
  if (rc) {
    /* I/O, size or memory error, recorded above */
  } else if (st != yajl_status_ok) {
    if (p.err) {
      rc = p.err;
      if (rc == ESCROW_E_NOMEM)
        escrow__err_nomem();
    } else {
      unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)xbuf, xn);
      size_t off = fed - xn + yajl_get_bytes_consumed(h);
      rc = escrow__err(ESCROW_E_FORMAT, "%s is not valid JSON (near byte %zu): %s", what, off,
                       msg ? (const char *)msg : "parse error");
      if (msg)
        yajl_free_error(h, msg);
    }
  } else if (!p.have_root) {
    rc = escrow__err(ESCROW_E_FORMAT, "%s is empty", what);
  }
  yajl_free(h);
  escrow__free(chunk);
  escrow__free(xbuf);
  escrow__free(p.stack);
  escrow__free(p.frames);
  escrow__free(p.keys);
  escrow__free(p.spec);
  if (rc == 0) {
    cv *r = cr_alloc(a, sizeof(cv));
    if (!r)
      return ESCROW_E_NOMEM;
    *r = p.root;
    *out = r;
  }
  return rc;
}

int cr_parse(cr_arena *a, const char *text, size_t len, const cr_parse_limits *lim,
             const char *what, cv **out) {
  return parse_any(a, text ? text : "", len, -1, lim, what, out);
}

int cr_parse_fd(cr_arena *a, int fd, const cr_parse_limits *lim, const char *what, cv **out) {
  return parse_any(a, NULL, 0, fd, lim, what, out);
}

const cv *cr_dict_get(const cv *d, const char *key, size_t klen) {
  if (!d || d->kind != CV_DICT)
    return NULL;
  for (uint32_t i = 0; i < d->n; i++)
    if (d->u.members[i].klen == klen && memcmp(d->u.members[i].key, key, klen) == 0)
      return &d->u.members[i].val;
  return NULL;
}

size_t cr_utf8_len(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (((uint8_t)s[i] & 0xC0) != 0x80)
      c++;
  return c;
}

/* ---- output buffer ----------------------------------------------------------------------- */

static bool buf_grow(cr_buf *b, size_t n) {
  if (b->failed)
    return false;
  if (b->cap - b->len > n)
    return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len <= n)
    cap *= 2;
  char *p = escrow__realloc(b->p, cap);
  if (!p) {
    b->failed = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

void cr_buf_put(cr_buf *b, const char *s, size_t n) {
  if (!buf_grow(b, n))
    return;
  if (n)
    memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void cr_buf_puts(cr_buf *b, const char *s) { cr_buf_put(b, s, strlen(s)); }
void cr_buf_putc(cr_buf *b, char c) { cr_buf_put(b, &c, 1); }

void cr_buf_printf(cr_buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof(tmp)) {
    cr_buf_put(b, tmp, (size_t)n);
    return;
  }
  if (!buf_grow(b, (size_t)n + 1))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void cr_buf_json_str(cr_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  cr_buf_putc(b, '"');
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = (uint8_t)s[i];
    if (c == 0xED && i + 2 < n && ((uint8_t)s[i + 1] & 0xE0) == 0xA0) {
      /* a lone surrogate (yajl keeps "\udc00" as its 3-byte form): write it escaped, as
       * Python's json does, so the output stays valid UTF-8 */
      unsigned cp = 0xD000u | (((unsigned)(uint8_t)s[i + 1] & 0x3F) << 6) |
                    ((unsigned)(uint8_t)s[i + 2] & 0x3F);
      cr_buf_put(b, s + run, i - run);
      cr_buf_printf(b, "\\u%04x", cp);
      i += 2;
      run = i + 1;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    cr_buf_put(b, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '"': cr_buf_puts(b, "\\\""); break;
    case '\\': cr_buf_puts(b, "\\\\"); break;
    case '\n': cr_buf_puts(b, "\\n"); break;
    case '\r': cr_buf_puts(b, "\\r"); break;
    case '\t': cr_buf_puts(b, "\\t"); break;
    case '\b': cr_buf_puts(b, "\\b"); break;
    case '\f': cr_buf_puts(b, "\\f"); break;
    default: {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      cr_buf_put(b, e, 6);
    }
    }
  }
  cr_buf_put(b, s + run, n - run);
  cr_buf_putc(b, '"');
}

void cr_buf_json_value(cr_buf *b, const cv *v) {
  switch (v->kind) {
  case CV_NULL: cr_buf_puts(b, "null"); break;
  case CV_BOOL: cr_buf_puts(b, v->u.i ? "true" : "false"); break;
  case CV_INT:
    if (v->flags & CVF_BIGINT)
      cr_buf_put(b, v->u.s, v->n);
    else
      cr_buf_printf(b, "%lld", (long long)v->u.i);
    break;
  case CV_FLOAT:
    if (isnan(v->u.d))
      cr_buf_puts(b, "NaN");
    else if (isinf(v->u.d))
      cr_buf_puts(b, v->u.d > 0 ? "Infinity" : "-Infinity");
    else
      cr_py_float_repr(b, v->u.d);
    break;
  case CV_STR: cr_buf_json_str(b, v->u.s, v->n); break;
  case CV_LIST:
    cr_buf_putc(b, '[');
    for (uint32_t i = 0; i < v->n; i++) {
      if (i)
        cr_buf_putc(b, ',');
      cr_buf_json_value(b, &v->u.items[i]);
    }
    cr_buf_putc(b, ']');
    break;
  case CV_DICT:
    cr_buf_putc(b, '{');
    for (uint32_t i = 0; i < v->n; i++) {
      if (i)
        cr_buf_putc(b, ',');
      cr_buf_json_str(b, v->u.members[i].key, v->u.members[i].klen);
      cr_buf_putc(b, ':');
      cr_buf_json_value(b, &v->u.members[i].val);
    }
    cr_buf_putc(b, '}');
    break;
  }
}

char *cr_buf_finish(cr_buf *b) {
  if (!b->failed && !b->p)
    cr_buf_put(b, "", 0);
  if (b->failed) {
    escrow__free(b->p);
    b->p = NULL;
    escrow__err_nomem();
    return NULL;
  }
  char *r = b->p;
  b->p = NULL;
  b->len = b->cap = 0;
  return r;
}
