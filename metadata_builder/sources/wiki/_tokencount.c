/* The recipe's tokens counted in one pass over each text: the compiled fast form of tokens.py.
 *
 * Same counts as tokens.unigram_tokens (lower-cased words) and tokens.runs (case-kept tokens and
 * adjacent pairs of one run), which stay the reference. Character classes are never decided here:
 * the caller passes a table of 0x110000 bytes built from Python's own regular expressions (\w, \d,
 * \s, line breaks: tokens.char_table), and lower-casing is Python's str.lower, called once per new
 * distinct piece. So the rule is exactly Python's, whatever its Unicode version.
 *
 * A text is scanned once: '\u2013' reads as '-' and '\u2019' as '\'' (tokens.normalize); a piece
 * is a maximal run of word characters, '-' and '\''; horizontal white space separates pieces of one
 * run; any other character (a line break, punctuation, a symbol) ends the run, and so does a piece
 * the rule drops (a number, 'x...). Each distinct piece gets an id (open-addressing hash table over
 * its code points); a piece the rule keeps is counted (case kept), and so is its pair with the
 * previous token of the run (key id1 << 32 | id2, a second hash table). Lower-cased words: the
 * piece's lower-case form, looked up once per distinct piece, counted with the number of texts
 * ("articles") it occurs in. A text holding a character whose lower-case form depends on context
 * (final sigma) or changes its class (U+0130) passes its own lower-cased form, whose pieces are
 * then its words, exactly as the reference lower-cases the whole text first.
 *
 * Strings are kept as code points in one arena and exported as Arrow string buffers (UTF-8 data
 * and int64 offsets), so no Python string is kept per piece.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define C_WORD 1  /* \w */
#define C_DIGIT 2 /* \d */
#define C_SPACE 4 /* \s but not a line break: separates pieces within a run */
#define N_CODEPOINTS 0x110000

/* ------------------------------------------------------------------ a set of strings -> ids */

#define EMPTY_SLOT UINT64_MAX

typedef struct {
    uint32_t *arena;  /* code points of every string, one after the other */
    Py_ssize_t arena_len, arena_cap;
    int64_t *start;   /* string i: arena[start[i] : start[i + 1]] */
    uint64_t *hash;   /* hash of string i */
    Py_ssize_t n, cap; /* strings, room in start/hash (start has cap + 1) */
    uint64_t *slots;  /* open addressing: EMPTY_SLOT, else (hash tag << 32) | string id */
    Py_ssize_t nslots; /* a power of two, at least twice n */
} StringSet;

static uint64_t hash_points(const uint32_t *p, Py_ssize_t n) {
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static int set_init(StringSet *s) {
    memset(s, 0, sizeof(*s));
    s->arena_cap = 1 << 16;
    s->cap = 1 << 12;
    s->nslots = 1 << 13;
    s->arena = PyMem_Malloc(s->arena_cap * sizeof(uint32_t));
    s->start = PyMem_Malloc((s->cap + 1) * sizeof(int64_t));
    s->hash = PyMem_Malloc(s->cap * sizeof(uint64_t));
    s->slots = PyMem_Malloc(s->nslots * sizeof(uint64_t));
    if (!s->arena || !s->start || !s->hash || !s->slots) {
        PyErr_NoMemory();
        return -1;
    }
    memset(s->slots, 0xff, s->nslots * sizeof(uint64_t));
    s->start[0] = 0;
    return 0;
}

static void set_free(StringSet *s) {
    PyMem_Free(s->arena);
    PyMem_Free(s->start);
    PyMem_Free(s->hash);
    PyMem_Free(s->slots);
    memset(s, 0, sizeof(*s));
}

static inline uint64_t slot_of(uint64_t hash, Py_ssize_t id) { return (hash & 0xFFFFFFFF00000000ULL) | (uint64_t)id; }

static int set_grow_slots(StringSet *s) {
    Py_ssize_t nslots = s->nslots * 2;
    uint64_t *slots = PyMem_Malloc(nslots * sizeof(uint64_t));
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    memset(slots, 0xff, nslots * sizeof(uint64_t));
    for (Py_ssize_t i = 0; i < s->n; i++) {
        Py_ssize_t j = (Py_ssize_t)(s->hash[i] & (uint64_t)(nslots - 1));
        while (slots[j] != EMPTY_SLOT) j = (j + 1) & (nslots - 1);
        slots[j] = slot_of(s->hash[i], i);
    }
    PyMem_Free(s->slots);
    s->slots = slots;
    s->nslots = nslots;
    return 0;
}

static inline int same_points(const uint32_t *a, const uint32_t *b, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* The id of string p[0:n], added if new (*added set to 1). -1 with an exception on failure.
 * A slot holds the hash's high 32 bits beside the id: most probes that miss never touch the strings. */
static Py_ssize_t set_add(StringSet *s, const uint32_t *p, Py_ssize_t n, int *added) {
    uint64_t h = hash_points(p, n);
    uint64_t tag = h & 0xFFFFFFFF00000000ULL;
    Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(s->nslots - 1));
    *added = 0;
    for (;;) {
        uint64_t slot = s->slots[j];
        if (slot == EMPTY_SLOT) break;
        if ((slot & 0xFFFFFFFF00000000ULL) == tag) {
            Py_ssize_t id = (Py_ssize_t)(slot & 0xFFFFFFFFu);
            if (s->start[id + 1] - s->start[id] == n && same_points(s->arena + s->start[id], p, n)) return id;
        }
        j = (j + 1) & (s->nslots - 1);
    }
    if (s->n >= INT32_MAX - 1) {
        PyErr_SetString(PyExc_OverflowError, "more than 2^31 distinct pieces in one counter");
        return -1;
    }
    if (s->arena_len + n > s->arena_cap) {
        Py_ssize_t cap = s->arena_cap * 2;
        while (cap < s->arena_len + n) cap *= 2;
        uint32_t *arena = PyMem_Realloc(s->arena, cap * sizeof(uint32_t));
        if (!arena) {
            PyErr_NoMemory();
            return -1;
        }
        s->arena = arena;
        s->arena_cap = cap;
    }
    if (s->n == s->cap) {
        Py_ssize_t cap = s->cap * 2;
        int64_t *start = PyMem_Realloc(s->start, (cap + 1) * sizeof(int64_t));
        if (!start) {
            PyErr_NoMemory();
            return -1;
        }
        s->start = start;
        uint64_t *hash = PyMem_Realloc(s->hash, cap * sizeof(uint64_t));
        if (!hash) {
            PyErr_NoMemory();
            return -1;
        }
        s->hash = hash;
        s->cap = cap;
    }
    Py_ssize_t id = s->n++;
    memcpy(s->arena + s->arena_len, p, n * sizeof(uint32_t));
    s->arena_len += n;
    s->start[id + 1] = s->arena_len;
    s->hash[id] = h;
    s->slots[j] = slot_of(h, id);
    *added = 1;
    if (2 * s->n > s->nslots && set_grow_slots(s) < 0) return -1;
    return id;
}

/* ------------------------------------------------------------------ pair id1, id2 -> count */

typedef struct {
    uint64_t *keys; /* UINT64_MAX: empty */
    int64_t *counts;
    Py_ssize_t n, nslots;
} PairTable;

#define EMPTY_KEY UINT64_MAX

static int pairs_alloc(PairTable *t, Py_ssize_t nslots) {
    t->keys = PyMem_Malloc(nslots * sizeof(uint64_t));
    t->counts = PyMem_Malloc(nslots * sizeof(int64_t));
    if (!t->keys || !t->counts) {
        PyErr_NoMemory();
        return -1;
    }
    memset(t->keys, 0xff, nslots * sizeof(uint64_t));
    t->nslots = nslots;
    t->n = 0;
    return 0;
}

static inline Py_ssize_t pair_slot(uint64_t key, Py_ssize_t nslots) {
    uint64_t h = key * 0x9e3779b97f4a7c15ULL;
    return (Py_ssize_t)((h ^ (h >> 31)) & (uint64_t)(nslots - 1));
}

static int pairs_add(PairTable *t, uint64_t key) {
    Py_ssize_t j = pair_slot(key, t->nslots);
    while (t->keys[j] != EMPTY_KEY) {
        if (t->keys[j] == key) {
            t->counts[j]++;
            return 0;
        }
        j = (j + 1) & (t->nslots - 1);
    }
    t->keys[j] = key;
    t->counts[j] = 1;
    t->n++;
    if (2 * t->n > t->nslots) {
        PairTable bigger;
        if (pairs_alloc(&bigger, t->nslots * 2) < 0) return -1;
        for (Py_ssize_t i = 0; i < t->nslots; i++) {
            if (t->keys[i] == EMPTY_KEY) continue;
            Py_ssize_t k = pair_slot(t->keys[i], bigger.nslots);
            while (bigger.keys[k] != EMPTY_KEY) k = (k + 1) & (bigger.nslots - 1);
            bigger.keys[k] = t->keys[i];
            bigger.counts[k] = t->counts[i];
        }
        bigger.n = t->n;
        PyMem_Free(t->keys);
        PyMem_Free(t->counts);
        *t = bigger;
    }
    return 0;
}

/* ------------------------------------------------------------------ per-id records */

typedef struct {
    int64_t count;  /* occurrences (only counted when the rule keeps the piece) */
    int32_t lower;  /* id of its lower-case form (-1: not looked up) */
    int32_t word;   /* 1 if the rule keeps it */
} CasedInfo;

typedef struct {
    int64_t count, articles, last_article;
    int64_t word;   /* 1 if the rule keeps it */
} LowerInfo;

/* a growable array of records of `size` bytes: room for at least n of them */
static int reserve(void **v, Py_ssize_t *cap, Py_ssize_t n, size_t size) {
    if (n <= *cap) return 0;
    Py_ssize_t c = *cap ? *cap : 1024;
    while (c < n) c *= 2;
    void *grown = PyMem_Realloc(*v, c * size);
    if (!grown) {
        PyErr_NoMemory();
        return -1;
    }
    *v = grown;
    *cap = c;
    return 0;
}

/* ------------------------------------------------------------------ the counter */

typedef struct {
    PyObject_HEAD
    PyObject *table_obj; /* bytes: class flags of every code point */
    const uint8_t *table;
    StringSet cased, lower;
    CasedInfo *ci;
    Py_ssize_t ci_cap;
    LowerInfo *li;
    Py_ssize_t li_cap;
    PairTable pairs;
    int64_t articles;    /* texts added */
    uint32_t *buf;       /* the current piece's code points */
    Py_ssize_t buf_cap;
} Counter;

static int is_word_points(const uint8_t *table, const uint32_t *p, Py_ssize_t n) {
    /* tokens.is_word on a piece of [\w'-]+: no digit, first and last not ' or - */
    if (n == 0 || p[0] == '\'' || p[0] == '-' || p[n - 1] == '\'' || p[n - 1] == '-') return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t c = p[i];
        if (c >= N_CODEPOINTS || (table[c] & C_DIGIT)) return 0;
        if (!(table[c] & C_WORD) && c != '\'' && c != '-') return 0;
    }
    return 1;
}

/* Code points of a Python string into a fresh PyMem buffer (*n set). */
static uint32_t *points_of(PyObject *str, Py_ssize_t *n) {
    *n = PyUnicode_GET_LENGTH(str);
    uint32_t *p = PyMem_Malloc((*n + 1) * sizeof(uint32_t));
    if (!p) {
        PyErr_NoMemory();
        return NULL;
    }
    int kind = PyUnicode_KIND(str);
    const void *data = PyUnicode_DATA(str);
    for (Py_ssize_t i = 0; i < *n; i++) p[i] = PyUnicode_READ(kind, data, i);
    return p;
}

/* The lower id of lower-case piece p[0:n], added (with its rule flag) if new. */
static Py_ssize_t lower_id(Counter *self, const uint32_t *p, Py_ssize_t n) {
    int added;
    Py_ssize_t id = set_add(&self->lower, p, n, &added);
    if (id < 0 || !added) return id;
    if (reserve((void **)&self->li, &self->li_cap, id + 1, sizeof(LowerInfo)) < 0) return -1;
    LowerInfo *info = &self->li[id];
    info->count = info->articles = 0;
    info->last_article = -1;
    info->word = is_word_points(self->table, p, n);
    return id;
}

/* The cased id of piece p[0:n]; a new piece gets its rule flag and the id of its lower-case form. */
static Py_ssize_t cased_id(Counter *self, const uint32_t *p, Py_ssize_t n) {
    int added;
    Py_ssize_t id = set_add(&self->cased, p, n, &added);
    if (id < 0 || !added) return id;
    if (reserve((void **)&self->ci, &self->ci_cap, id + 1, sizeof(CasedInfo)) < 0) return -1;
    self->ci[id].count = 0;
    self->ci[id].word = is_word_points(self->table, p, n);
    self->ci[id].lower = -1;
    /* the lower-case form, by Python's own str.lower */
    PyObject *piece = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, p, n);
    if (!piece) return -1;
    PyObject *lowered = PyObject_CallMethod(piece, "lower", NULL);
    Py_DECREF(piece);
    if (!lowered) return -1;
    Py_ssize_t m;
    uint32_t *q = points_of(lowered, &m);
    Py_DECREF(lowered);
    if (!q) return -1;
    Py_ssize_t lid = lower_id(self, q, m);
    PyMem_Free(q);
    if (lid < 0) return -1;
    self->ci[id].lower = (int32_t)lid;
    return id;
}

static inline void count_word(Counter *self, Py_ssize_t lid) {
    LowerInfo *info = &self->li[lid];
    if (!info->word) return;
    info->count++;
    if (info->last_article != self->articles) {
        info->last_article = self->articles;
        info->articles++;
    }
}

static int reserve_buf(Counter *self, Py_ssize_t n) {
    if (n <= self->buf_cap) return 0;
    Py_ssize_t cap = self->buf_cap ? self->buf_cap : 256;
    while (cap < n) cap *= 2;
    uint32_t *buf = PyMem_Realloc(self->buf, cap * sizeof(uint32_t));
    if (!buf) {
        PyErr_NoMemory();
        return -1;
    }
    self->buf = buf;
    self->buf_cap = cap;
    return 0;
}

/* One finished piece buf[0:len]: counted, paired with *prev (the previous word of the run, -1: none). */
static int end_piece(Counter *self, Py_ssize_t len, Py_ssize_t *prev, int words_too, int lower_only) {
    if (lower_only) {
        Py_ssize_t lid = lower_id(self, self->buf, len);
        if (lid < 0) return -1;
        count_word(self, lid);
        return 0;
    }
    Py_ssize_t id = cased_id(self, self->buf, len);
    if (id < 0) return -1;
    CasedInfo *info = &self->ci[id];
    if (info->word) {
        info->count++;
        if (*prev >= 0 && pairs_add(&self->pairs, ((uint64_t)*prev << 32) | (uint64_t)id) < 0) return -1;
        *prev = id;
    } else {
        *prev = -1; /* a dropped piece ends the run */
    }
    if (words_too && info->lower >= 0) count_word(self, info->lower);
    return 0;
}

/* The scan of one text of code unit type T: '\u2013' reads as '-' and '\u2019' as '\''; pieces are
 * maximal runs of \w ' -; horizontal white space keeps the run going, anything else ends it. */
#define SCAN_BODY(T)                                                                                 \
    {                                                                                                \
        const T *data = (const T *)PyUnicode_DATA(text);                                             \
        for (Py_ssize_t i = 0; i < n; i++) {                                                         \
            uint32_t c = data[i];                                                                    \
            if (sizeof(T) > 1) {                                                                     \
                if (c == 0x2013) c = '-';                                                            \
                else if (c == 0x2019) c = '\'';                                                      \
            }                                                                                        \
            uint8_t f = table[c];                                                                    \
            if ((f & C_WORD) || c == '\'' || c == '-') {                                             \
                if (len == self->buf_cap && reserve_buf(self, len + 1) < 0) return -1;               \
                self->buf[len++] = c;                                                                \
                continue;                                                                            \
            }                                                                                        \
            if (len) {                                                                               \
                if (end_piece(self, len, &prev, words_too, lower_only) < 0) return -1;               \
                len = 0;                                                                             \
            }                                                                                        \
            if (!(f & C_SPACE)) prev = -1;                                                           \
        }                                                                                            \
    }

/* Scan one text. words_too: count lower-cased words from the pieces (else only cased + pairs).
 * lower_only: the text is a lower-cased text whose pieces are words (no cased tokens, no pairs). */
static int scan(Counter *self, PyObject *text, int words_too, int lower_only) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const uint8_t *table = self->table;
    Py_ssize_t prev = -1; /* cased id of the previous word of the run, -1 at a run's start */
    Py_ssize_t len = 0;   /* code points in the current piece */
    if (reserve_buf(self, 64) < 0) return -1;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        SCAN_BODY(Py_UCS1)
        break;
    case PyUnicode_2BYTE_KIND:
        SCAN_BODY(Py_UCS2)
        break;
    default:
        SCAN_BODY(Py_UCS4)
        break;
    }
    if (len && end_piece(self, len, &prev, words_too, lower_only) < 0) return -1;
    return 0;
}

static PyObject *Counter_add(Counter *self, PyObject *args) {
    PyObject *text, *lowered = Py_None;
    if (!PyArg_ParseTuple(args, "U|O", &text, &lowered)) return NULL;
    if (lowered != Py_None && !PyUnicode_Check(lowered)) {
        PyErr_SetString(PyExc_TypeError, "lowered must be a str or None");
        return NULL;
    }
    if (scan(self, text, lowered == Py_None, 0) < 0) return NULL;
    if (lowered != Py_None && scan(self, lowered, 1, 1) < 0) return NULL;
    self->articles++;
    Py_RETURN_NONE;
}

static PyObject *Counter_size(Counter *self, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromSsize_t(self->cased.n + self->lower.n + self->pairs.n);
}

/* ------------------------------------------------------------------ export as Arrow buffers */

static Py_ssize_t utf8_len(uint32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

static char *put_utf8(char *o, uint32_t c) {
    if (c < 0x80) {
        *o++ = (char)c;
    } else if (c < 0x800) {
        *o++ = (char)(0xC0 | (c >> 6));
        *o++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *o++ = (char)(0xE0 | (c >> 12));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (c >> 18));
        *o++ = (char)(0x80 | ((c >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    }
    return o;
}

/* (offsets: bytes of int64[k + 1], data: bytes) of strings ids[0:k] of set s, UTF-8 (Arrow large_string). */
static PyObject *strings_of(StringSet *s, const int64_t *ids, Py_ssize_t k) {
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < k; i++)
        for (int64_t j = s->start[ids[i]]; j < s->start[ids[i] + 1]; j++) total += utf8_len(s->arena[j]);
    PyObject *offsets = PyBytes_FromStringAndSize(NULL, (k + 1) * sizeof(int64_t));
    PyObject *data = PyBytes_FromStringAndSize(NULL, total);
    if (!offsets || !data) {
        Py_XDECREF(offsets);
        Py_XDECREF(data);
        return NULL;
    }
    int64_t *off = (int64_t *)PyBytes_AS_STRING(offsets);
    char *base = PyBytes_AS_STRING(data), *o = base;
    off[0] = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        for (int64_t j = s->start[ids[i]]; j < s->start[ids[i] + 1]; j++) o = put_utf8(o, s->arena[j]);
        off[i + 1] = o - base;
    }
    return Py_BuildValue("(NN)", offsets, data);
}

static PyObject *ints_bytes(const int64_t *v, Py_ssize_t k) {
    return PyBytes_FromStringAndSize((const char *)v, k * sizeof(int64_t));
}

/* words() -> ((offsets, data), counts, articles): lower-cased words the rule keeps, seen at least once. */
static PyObject *Counter_words(Counter *self, PyObject *Py_UNUSED(ignored)) {
    int64_t *ids = PyMem_Malloc((self->lower.n + 1) * sizeof(int64_t));
    int64_t *counts = PyMem_Malloc((self->lower.n + 1) * sizeof(int64_t));
    int64_t *articles = PyMem_Malloc((self->lower.n + 1) * sizeof(int64_t));
    if (!ids || !counts || !articles) {
        PyMem_Free(ids);
        PyMem_Free(counts);
        PyMem_Free(articles);
        return PyErr_NoMemory();
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < self->lower.n; i++) {
        if (self->li[i].count > 0) {
            ids[k] = i;
            counts[k] = self->li[i].count;
            articles[k] = self->li[i].articles;
            k++;
        }
    }
    PyObject *out = Py_BuildValue("(NNN)", strings_of(&self->lower, ids, k), ints_bytes(counts, k),
                                  ints_bytes(articles, k));
    PyMem_Free(ids);
    PyMem_Free(counts);
    PyMem_Free(articles);
    return out;
}

/* cased() -> ((offsets, data), counts): case-kept tokens the rule keeps, with their counts. */
static PyObject *Counter_cased(Counter *self, PyObject *Py_UNUSED(ignored)) {
    int64_t *ids = PyMem_Malloc((self->cased.n + 1) * sizeof(int64_t));
    int64_t *counts = PyMem_Malloc((self->cased.n + 1) * sizeof(int64_t));
    if (!ids || !counts) {
        PyMem_Free(ids);
        PyMem_Free(counts);
        return PyErr_NoMemory();
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < self->cased.n; i++) {
        if (self->ci[i].count > 0) {
            ids[k] = i;
            counts[k] = self->ci[i].count;
            k++;
        }
    }
    PyObject *out = Py_BuildValue("(NN)", strings_of(&self->cased, ids, k), ints_bytes(counts, k));
    PyMem_Free(ids);
    PyMem_Free(counts);
    return out;
}

/* bigrams() -> ((w1 offsets, data), (w2 offsets, data), counts): every pair, in table order. */
static PyObject *Counter_bigrams(Counter *self, PyObject *Py_UNUSED(ignored)) {
    Py_ssize_t k = self->pairs.n;
    int64_t *first = PyMem_Malloc((k + 1) * sizeof(int64_t));
    int64_t *second = PyMem_Malloc((k + 1) * sizeof(int64_t));
    int64_t *counts = PyMem_Malloc((k + 1) * sizeof(int64_t));
    if (!first || !second || !counts) {
        PyMem_Free(first);
        PyMem_Free(second);
        PyMem_Free(counts);
        return PyErr_NoMemory();
    }
    Py_ssize_t i = 0;
    for (Py_ssize_t j = 0; j < self->pairs.nslots; j++) {
        uint64_t key = self->pairs.keys[j];
        if (key == EMPTY_KEY) continue;
        first[i] = (int64_t)(key >> 32);
        second[i] = (int64_t)(key & 0xFFFFFFFFu);
        counts[i] = self->pairs.counts[j];
        i++;
    }
    PyObject *out = Py_BuildValue("(NNN)", strings_of(&self->cased, first, k), strings_of(&self->cased, second, k),
                                  ints_bytes(counts, k));
    PyMem_Free(first);
    PyMem_Free(second);
    PyMem_Free(counts);
    return out;
}

/* ------------------------------------------------------------------ the type */

static int Counter_init(Counter *self, PyObject *args, PyObject *kwds) {
    PyObject *table;
    static char *kwlist[] = {"table", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "S", kwlist, &table)) return -1;
    if (PyBytes_GET_SIZE(table) != N_CODEPOINTS) {
        PyErr_SetString(PyExc_ValueError, "table must hold one byte per code point (0x110000 bytes)");
        return -1;
    }
    if (self->table_obj) {
        PyErr_SetString(PyExc_RuntimeError, "Counter already initialised");
        return -1;
    }
    Py_INCREF(table);
    self->table_obj = table;
    self->table = (const uint8_t *)PyBytes_AS_STRING(table);
    if (set_init(&self->cased) < 0 || set_init(&self->lower) < 0 || pairs_alloc(&self->pairs, 1 << 14) < 0) return -1;
    return 0;
}

static void Counter_dealloc(Counter *self) {
    Py_XDECREF(self->table_obj);
    set_free(&self->cased);
    set_free(&self->lower);
    PyMem_Free(self->pairs.keys);
    PyMem_Free(self->pairs.counts);
    PyMem_Free(self->ci);
    PyMem_Free(self->li);
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Counter_methods[] = {
    {"add", (PyCFunction)Counter_add, METH_VARARGS,
     "add(text, lowered=None): count one text; `lowered` (its normalised lower-cased form) when it holds a "
     "context-dependent character: its words are then taken from it."},
    {"size", (PyCFunction)Counter_size, METH_NOARGS, "distinct cased pieces + lower-cased pieces + pairs held"},
    {"words", (PyCFunction)Counter_words, METH_NOARGS, "((offsets, utf8), counts, articles) of the words kept"},
    {"cased", (PyCFunction)Counter_cased, METH_NOARGS, "((offsets, utf8), counts) of the case-kept tokens kept"},
    {"bigrams", (PyCFunction)Counter_bigrams, METH_NOARGS, "((offsets, utf8), (offsets, utf8), counts) of pairs"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "metadata_builder.sources.wiki._tokencount.Counter",
    .tp_doc = "Counters of one shard's tokens (see tokens.py): words, case-kept tokens, pairs.",
    .tp_basicsize = sizeof(Counter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Counter_init,
    .tp_dealloc = (destructor)Counter_dealloc,
    .tp_methods = Counter_methods,
};

/* char_table() -> bytes of 0x110000 class flags, from the very predicates Python's re uses for
 * str patterns: \w is Py_UNICODE_ISALNUM or '_', \d is Py_UNICODE_ISDECIMAL, \s is
 * Py_UNICODE_ISSPACE (Modules/_sre/sre.c). Line breaks (str.splitlines) are not SPACE: they end runs.
 * tokens.char_table_from_re builds the same table by running re itself (a test compares them). */
static PyObject *char_table(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, N_CODEPOINTS);
    if (!out) return NULL;
    uint8_t *t = (uint8_t *)PyBytes_AS_STRING(out);
    for (Py_UCS4 c = 0; c < N_CODEPOINTS; c++) {
        uint8_t f = 0;
        if (Py_UNICODE_ISALNUM(c) || c == '_') f |= C_WORD;
        if (Py_UNICODE_ISDECIMAL(c)) f |= C_DIGIT;
        if (Py_UNICODE_ISSPACE(c)) f |= C_SPACE;
        t[c] = f;
    }
    static const Py_UCS4 line_breaks[] = {0x0A, 0x0D, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029};
    for (size_t i = 0; i < sizeof(line_breaks) / sizeof(line_breaks[0]); i++) t[line_breaks[i]] &= (uint8_t)~C_SPACE;
    return out;
}

static PyMethodDef module_methods[] = {
    {"char_table", char_table, METH_NOARGS, "class flags of every code point, by Python's own predicates"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tokencount",
    "The recipe's tokens counted in one pass (compiled fast form of tokens.py).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__tokencount(void) {
    if (PyType_Ready(&CounterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&CounterType);
    if (PyModule_AddObject(m, "Counter", (PyObject *)&CounterType) < 0) {
        Py_DECREF(&CounterType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "VERSION", 1); /* tokens.py checks it: a stale build is not used */
    PyModule_AddIntConstant(m, "WORD", C_WORD);
    PyModule_AddIntConstant(m, "DIGIT", C_DIGIT);
    PyModule_AddIntConstant(m, "SPACE", C_SPACE);
    return m;
}
