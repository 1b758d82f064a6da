/* c-hello: a Switchboard plugin written in C, against core/include/switchboard.h.
 *
 * It counts the users who joined and, when the call UI's "c-hello" button is pressed, asks
 * the host to mute the local microphone. It shows that the ABI is language-neutral: plain
 * structs, status codes, JSON bytes in and out, and "whoever allocates frees".
 *
 * Build (the tests do exactly this):
 *   cc -shared -fPIC -fvisibility=hidden -O2 -Wall -Wextra -Werror \
 *      -I core/include plugins/c-hello/hello.c -o libc_hello.so -lpthread
 * -fvisibility=hidden keeps every symbol but the entry private, as conformance requires.
 *
 * It parses no JSON: it only needs to spot two substrings, and a message that does not
 * look like a JSON object is refused with SB_INVALID_ARGUMENT. */

#include "switchboard.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char DESCRIPTOR[] =
    "{\"v\":1,\"abi_version\":1,\"id\":\"c-hello\",\"name\":\"Hello from C\",\"version\":\"0.1.0\","
    "\"kind\":\"tool\",\"description\":\"Counts joins and mutes the microphone when its button is "
    "pressed; written in C.\",\"capabilities\":[],\"subscriptions\":[\"user_joined\",\"button_pressed\"],"
    "\"wants_media\":false}";

/* The answer to a "command" message: c-hello provides no capability, so it carries out
 * none, and says so instead of pretending. */
static const char NO_CAPABILITY_REPLY[] =
    "{\"v\":1,\"error\":{\"code\":\"NOT_IMPLEMENTED\",\"message\":\"c-hello provides no capability\"}}";

static const char MUTE_REPLY[] = "{\"v\":1,\"commands\":[{\"action\":\"mute_audio\",\"muted\":true}]}";

/* One instance. Instances live in a singly linked list behind a mutex; handles are never
 * reused, so a stale handle is always refused. */
struct instance {
    uint64_t id;
    unsigned long joined;
    struct instance *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct instance *instances = NULL;
static uint64_t next_id = 1;

/* Hands `len` bytes to the host through `out` (a malloc'd copy; free_buffer frees it). */
static void write_out(SbBuffer *out, const char *bytes, size_t len) {
    if (out == NULL) {
        return;
    }
    out->ptr = NULL;
    out->len = 0;
    out->cap = 0;
    if (len == 0) {
        return;
    }
    uint8_t *copy = malloc(len);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, bytes, len);
    out->ptr = copy;
    out->len = len;
    out->cap = len;
}

static void write_text(SbBuffer *out, const char *text) {
    write_out(out, text, strlen(text));
}

static int32_t refuse_abi(uint32_t host_abi_version, SbBuffer *out) {
    char message[128];
    snprintf(message, sizeof message, "host offers plugin ABI version %u, c-hello supports version %u",
             (unsigned)host_abi_version, (unsigned)SB_ABI_VERSION);
    write_text(out, message);
    return SB_ABI_MISMATCH;
}

static int32_t describe(uint32_t host_abi_version, SbBuffer *out) {
    if (host_abi_version != SB_ABI_VERSION) {
        return refuse_abi(host_abi_version, out);
    }
    write_out(out, DESCRIPTOR, sizeof DESCRIPTOR - 1);
    return SB_OK;
}

static int is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* True when bytes[0..len] holds `needle`. */
static int contains(const uint8_t *bytes, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (memcmp(bytes + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int32_t create(uint32_t host_abi_version, const uint8_t *settings, size_t settings_len,
                      uint64_t *out_instance, SbBuffer *out_error) {
    if (host_abi_version != SB_ABI_VERSION) {
        return refuse_abi(host_abi_version, out_error);
    }
    if (out_instance == NULL || (settings == NULL && settings_len > 0)) {
        write_text(out_error, "null pointer");
        return SB_INVALID_ARGUMENT;
    }
    /* c-hello takes no settings: only nothing, or an empty JSON object, is accepted. */
    size_t i = 0;
    while (i < settings_len && is_space(settings[i])) i++;
    if (i < settings_len) {
        if (settings[i] != '{') {
            write_text(out_error, "settings must be a JSON object");
            return SB_ERROR;
        }
        i++;
        while (i < settings_len && is_space(settings[i])) i++;
        if (i >= settings_len || settings[i] != '}') {
            write_text(out_error, "c-hello takes no settings");
            return SB_ERROR;
        }
        i++;
        while (i < settings_len && is_space(settings[i])) i++;
        if (i != settings_len) {
            write_text(out_error, "trailing bytes after the settings object");
            return SB_ERROR;
        }
    }
    struct instance *it = calloc(1, sizeof *it);
    if (it == NULL) {
        write_text(out_error, "out of memory");
        return SB_ERROR;
    }
    pthread_mutex_lock(&lock);
    it->id = next_id++;
    it->next = instances;
    instances = it;
    pthread_mutex_unlock(&lock);
    *out_instance = it->id;
    return SB_OK;
}

static int32_t handle(uint64_t instance, const uint8_t *message, size_t message_len, SbBuffer *out) {
    if (message == NULL && message_len > 0) {
        write_text(out, "message pointer is null with a non-zero length");
        return SB_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&lock);
    struct instance *it = instances;
    while (it != NULL && it->id != instance) it = it->next;
    if (it == NULL) {
        pthread_mutex_unlock(&lock);
        write_text(out, "no live instance with this handle");
        return SB_UNKNOWN_INSTANCE;
    }
    size_t i = 0;
    while (i < message_len && is_space(message[i])) i++;
    if (i == message_len || message[i] != '{') {
        pthread_mutex_unlock(&lock);
        write_text(out, "undecodable message: not a JSON object");
        return SB_INVALID_ARGUMENT;
    }
    int mute = 0;
    int command = contains(message, message_len, "\"type\":\"command\"");
    if (contains(message, message_len, "\"event\":\"user_joined\"")) {
        it->joined++;
    }
    if (contains(message, message_len, "\"event\":\"button_pressed\",\"id\":\"c-hello\"")) {
        mute = 1;
    }
    pthread_mutex_unlock(&lock);
    if (command) {
        write_out(out, NO_CAPABILITY_REPLY, sizeof NO_CAPABILITY_REPLY - 1);
    } else if (mute) {
        write_out(out, MUTE_REPLY, sizeof MUTE_REPLY - 1);
    } else {
        write_out(out, NULL, 0);
    }
    return SB_OK;
}

static int32_t destroy(uint64_t instance) {
    pthread_mutex_lock(&lock);
    struct instance **link = &instances;
    while (*link != NULL && (*link)->id != instance) link = &(*link)->next;
    struct instance *it = *link;
    if (it != NULL) {
        *link = it->next;
    }
    pthread_mutex_unlock(&lock);
    if (it == NULL) {
        return SB_UNKNOWN_INSTANCE;
    }
    free(it);
    return SB_OK;
}

static void free_buffer(SbBuffer buffer) {
    free(buffer.ptr);
}

/* The one exported symbol. */
__attribute__((visibility("default"))) const SbPluginEntry switchboard_plugin_entry = {
    .abi_version = SB_ABI_VERSION,
    .struct_size = sizeof(SbPluginEntry),
    .describe = describe,
    .create = create,
    .handle = handle,
    .media = NULL,
    .destroy = destroy,
    .free_buffer = free_buffer,
};
