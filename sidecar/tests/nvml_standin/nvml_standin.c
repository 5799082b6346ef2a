/*
 * A stand-in libnvidia-ml.so.1 for the sidecar's tests: it implements the NVML entry points
 * that agentlens-sidecar reaches through nvml-wrapper 0.13 (nvml-wrapper-sys 0.10 layouts) and
 * answers them from a scripted world instead of a driver. The tests build it with the system
 * compiler and put its folder first on LD_LIBRARY_PATH, so the sidecar loads it through the
 * same dlopen("libnvidia-ml.so.1") that finds the real driver.
 *
 * The script is the file named by AGENTLENS_NVML_STANDIN_SCRIPT (its first 64 KiB; at most
 * 8 devices, 64 processes, 256 XID events and 16 failures, the rest ignored; a missing file is
 * a driver without GPUs). It is read again on every call, so a test changes the world while the sidecar runs (write a new file, rename it over
 * the old one). One statement per line, '#' starts a comment:
 *
 *   driver VERSION
 *   device UUID TOTAL_BYTES USED_BYTES UTIL_PERCENT LOST_AFTER NAME...
 *       GPUs in index order (0, 1, ...). LOST_AFTER: after this many memory reads of the
 *       device every call about it answers NVML_ERROR_GPU_IS_LOST; -1 for never.
 *   process DEVICE_INDEX PID USED_BYTES compute|graphics
 *   xid DEVICE_INDEX CODE
 *       critical XID events, delivered once each, in order, to nvmlEventSetWait_v2.
 *   fail FUNCTION CODE
 *       FUNCTION (an NVML symbol name) answers the NVML return code CODE.
 *
 * What the stand-in remembers between calls (memory reads per device, XID events delivered)
 * lives in this process, not in the script.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int nvmlReturn_t;
typedef struct standin_device *nvmlDevice_t;
typedef struct standin_event_set *nvmlEventSet_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999,
};

/* nvml-wrapper-sys 0.10 bindings.rs: nvmlMemory_v2_st, nvmlUtilization_st,
 * nvmlProcessInfo_v2_st (the layout of the _v3 process queries), nvmlEventData_st. */
typedef struct {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;

typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

#define XID_CRITICAL_ERROR 8ULL
/* What an H200 supports (/work/shared/fixtures/gpu/nvml-h200-probe.txt): single and double bit
 * ECC, P-state, critical XID, clock, power source and MIG config changes. */
#define H200_EVENT_TYPES (1ULL | 2ULL | 4ULL | XID_CRITICAL_ERROR | 16ULL | 128ULL | 256ULL)
#define MAX_DEVICES 8
#define MAX_PROCESSES 64
#define MAX_XIDS 256
#define MAX_FAILS 16
#define TEXT 96
#define SCRIPT_MAX 65536

struct standin_device {
    unsigned int index;
};

struct standin_event_set {
    int registered;
};

struct script_device {
    char uuid[TEXT];
    char name[TEXT];
    unsigned long long total;
    unsigned long long used;
    unsigned int util;
    long lost_after;
};

struct script_process {
    unsigned int device;
    unsigned int pid;
    unsigned long long used;
    int graphics;
};

struct script_xid {
    unsigned int device;
    unsigned long long code;
};

struct script_fail {
    char function[TEXT];
    int code;
};

struct world {
    char driver[TEXT];
    unsigned int devices_len;
    struct script_device devices[MAX_DEVICES];
    unsigned int processes_len;
    struct script_process processes[MAX_PROCESSES];
    unsigned int xids_len;
    struct script_xid xids[MAX_XIDS];
    unsigned int fails_len;
    struct script_fail fails[MAX_FAILS];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct world world;
static struct standin_device handles[MAX_DEVICES];
static struct standin_event_set event_set;
static unsigned long memory_reads[MAX_DEVICES];
static unsigned int xids_delivered;
static int initialised;

static void parse_line(struct world *w, const char *line)
{
    char word[TEXT];
    if (sscanf(line, "%95s", word) != 1 || word[0] == '#') {
        return;
    }
    if (strcmp(word, "driver") == 0) {
        if (sscanf(line, "driver %95s", w->driver) != 1) {
            w->driver[0] = '\0';
        }
    } else if (strcmp(word, "device") == 0 && w->devices_len < MAX_DEVICES) {
        struct script_device *d = &w->devices[w->devices_len];
        if (sscanf(line, "device %95s %llu %llu %u %ld %95[^\n]", d->uuid, &d->total, &d->used,
                   &d->util, &d->lost_after, d->name) == 6) {
            w->devices_len++;
        }
    } else if (strcmp(word, "process") == 0 && w->processes_len < MAX_PROCESSES) {
        struct script_process *p = &w->processes[w->processes_len];
        char kind[TEXT];
        if (sscanf(line, "process %u %u %llu %95s", &p->device, &p->pid, &p->used, kind) == 4) {
            p->graphics = strcmp(kind, "graphics") == 0;
            w->processes_len++;
        }
    } else if (strcmp(word, "xid") == 0 && w->xids_len < MAX_XIDS) {
        struct script_xid *x = &w->xids[w->xids_len];
        if (sscanf(line, "xid %u %llu", &x->device, &x->code) == 2) {
            w->xids_len++;
        }
    } else if (strcmp(word, "fail") == 0 && w->fails_len < MAX_FAILS) {
        struct script_fail *f = &w->fails[w->fails_len];
        if (sscanf(line, "fail %95s %d", f->function, &f->code) == 2) {
            w->fails_len++;
        }
    }
}

/* Reads the script into `world`; with the lock held. A missing script is an empty world. */
static void reload(void)
{
    static char text[SCRIPT_MAX + 1];
    memset(&world, 0, sizeof world);
    const char *path = getenv("AGENTLENS_NVML_STANDIN_SCRIPT");
    if (path == NULL) {
        return;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    size_t len = fread(text, 1, SCRIPT_MAX, f);
    fclose(f);
    text[len] = '\0';
    char *line = text;
    while (line != NULL && *line != '\0') {
        char *end = strchr(line, '\n');
        if (end != NULL) {
            *end = '\0';
        }
        parse_line(&world, line);
        line = end == NULL ? NULL : end + 1;
    }
}

/* The scripted failure of `function`, or NVML_SUCCESS; with the lock held. */
static nvmlReturn_t scripted(const char *function)
{
    for (unsigned int i = 0; i < world.fails_len; i++) {
        if (strcmp(world.fails[i].function, function) == 0) {
            return world.fails[i].code;
        }
    }
    return NVML_SUCCESS;
}

/* Locks, reloads the script and answers the scripted failure or an uninitialised library. */
static nvmlReturn_t enter(const char *function)
{
    pthread_mutex_lock(&lock);
    reload();
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    return scripted(function);
}

static nvmlReturn_t leave(nvmlReturn_t ret)
{
    pthread_mutex_unlock(&lock);
    return ret;
}

/* The scripted device behind a handle, or NULL when the handle is not one of ours. */
static struct script_device *device_of(nvmlDevice_t handle, unsigned int *index)
{
    uintptr_t first = (uintptr_t)&handles[0];
    uintptr_t at = (uintptr_t)handle;
    if (at < first || at >= first + sizeof handles || (at - first) % sizeof handles[0] != 0) {
        return NULL;
    }
    unsigned int i = (unsigned int)((at - first) / sizeof handles[0]);
    if (i >= world.devices_len) {
        return NULL;
    }
    if (index != NULL) {
        *index = i;
    }
    return &world.devices[i];
}

static int lost(unsigned int index)
{
    long after = world.devices[index].lost_after;
    return after >= 0 && memory_reads[index] >= (unsigned long)after;
}

/* Looks up a device for a per-device call: its script entry, or the NVML error to answer. */
static nvmlReturn_t device_call(const char *function, nvmlDevice_t handle,
                                struct script_device **out, unsigned int *index)
{
    nvmlReturn_t ret = enter(function);
    if (ret != NVML_SUCCESS) {
        return ret;
    }
    unsigned int i = 0;
    *out = device_of(handle, &i);
    if (*out == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (lost(i)) {
        return NVML_ERROR_GPU_IS_LOST;
    }
    if (index != NULL) {
        *index = i;
    }
    return NVML_SUCCESS;
}

static nvmlReturn_t copy_text(char *out, unsigned int length, const char *text)
{
    if (out == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    size_t len = strlen(text);
    if (len + 1 > length) {
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memcpy(out, text, len + 1);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void)
{
    pthread_mutex_lock(&lock);
    reload();
    nvmlReturn_t ret = scripted("nvmlInit_v2");
    if (ret == NVML_SUCCESS) {
        initialised++;
    }
    return leave(ret);
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    return nvmlInit_v2();
}

nvmlReturn_t nvmlShutdown(void)
{
    nvmlReturn_t ret = enter("nvmlShutdown");
    if (ret == NVML_SUCCESS) {
        initialised--;
    }
    return leave(ret);
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS:
        return "Success";
    case NVML_ERROR_GPU_IS_LOST:
        return "GPU is lost";
    case NVML_ERROR_TIMEOUT:
        return "Timeout";
    default:
        return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    nvmlReturn_t ret = enter("nvmlSystemGetDriverVersion");
    if (ret == NVML_SUCCESS) {
        ret = world.driver[0] == '\0' ? NVML_ERROR_NOT_SUPPORTED
                                      : copy_text(version, length, world.driver);
    }
    return leave(ret);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    nvmlReturn_t ret = enter("nvmlDeviceGetCount_v2");
    if (ret == NVML_SUCCESS) {
        if (count == NULL) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            *count = world.devices_len;
        }
    }
    return leave(ret);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    nvmlReturn_t ret = enter("nvmlDeviceGetHandleByIndex_v2");
    if (ret == NVML_SUCCESS) {
        if (device == NULL || index >= world.devices_len) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else if (lost(index)) {
            ret = NVML_ERROR_GPU_IS_LOST;
        } else {
            handles[index].index = index;
            *device = &handles[index];
        }
    }
    return leave(ret);
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    struct script_device *d = NULL;
    unsigned int i = 0;
    nvmlReturn_t ret = device_call("nvmlDeviceGetIndex", device, &d, &i);
    if (ret == NVML_SUCCESS) {
        if (index == NULL) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            *index = i;
        }
    }
    return leave(ret);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    struct script_device *d = NULL;
    nvmlReturn_t ret = device_call("nvmlDeviceGetName", device, &d, NULL);
    if (ret == NVML_SUCCESS) {
        ret = copy_text(name, length, d->name);
    }
    return leave(ret);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    struct script_device *d = NULL;
    nvmlReturn_t ret = device_call("nvmlDeviceGetUUID", device, &d, NULL);
    if (ret == NVML_SUCCESS) {
        ret = copy_text(uuid, length, d->uuid);
    }
    return leave(ret);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    struct script_device *d = NULL;
    unsigned int i = 0;
    nvmlReturn_t ret = device_call("nvmlDeviceGetMemoryInfo_v2", device, &d, &i);
    if (ret == NVML_SUCCESS) {
        if (memory == NULL || memory->version != (unsigned int)(sizeof *memory | (2u << 24))) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            memory->total = d->total;
            memory->reserved = 0;
            memory->used = d->used;
            memory->free = d->total > d->used ? d->total - d->used : 0;
            memory_reads[i]++;
        }
    }
    return leave(ret);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    struct script_device *d = NULL;
    nvmlReturn_t ret = device_call("nvmlDeviceGetUtilizationRates", device, &d, NULL);
    if (ret == NVML_SUCCESS) {
        if (utilization == NULL) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            utilization->gpu = d->util;
            utilization->memory = d->util;
        }
    }
    return leave(ret);
}

/* The compute or graphics processes of a device, with NVML's sizing protocol: too small a
 * buffer (or none) answers INSUFFICIENT_SIZE with the count needed. */
static nvmlReturn_t running_processes(const char *function, int graphics, nvmlDevice_t device,
                                      unsigned int *count, nvmlProcessInfo_t *infos)
{
    struct script_device *d = NULL;
    unsigned int index = 0;
    nvmlReturn_t ret = device_call(function, device, &d, &index);
    if (ret != NVML_SUCCESS) {
        return leave(ret);
    }
    if (count == NULL) {
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    }
    unsigned int n = 0;
    for (unsigned int i = 0; i < world.processes_len; i++) {
        const struct script_process *p = &world.processes[i];
        if (p->device == index && p->graphics == graphics) {
            n++;
        }
    }
    if (n == 0) {
        *count = 0;
        return leave(NVML_SUCCESS);
    }
    if (infos == NULL || *count < n) {
        *count = n;
        return leave(NVML_ERROR_INSUFFICIENT_SIZE);
    }
    unsigned int out = 0;
    for (unsigned int i = 0; i < world.processes_len && out < n; i++) {
        const struct script_process *p = &world.processes[i];
        if (p->device == index && p->graphics == graphics) {
            infos[out].pid = p->pid;
            infos[out].usedGpuMemory = p->used;
            infos[out].gpuInstanceId = 0xFFFFFFFFu;
            infos[out].computeInstanceId = 0xFFFFFFFFu;
            out++;
        }
    }
    *count = out;
    return leave(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_t *infos)
{
    return running_processes("nvmlDeviceGetComputeRunningProcesses_v3", 0, device, count, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                      nvmlProcessInfo_t *infos)
{
    return running_processes("nvmlDeviceGetGraphicsRunningProcesses_v3", 1, device, count, infos);
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *types)
{
    struct script_device *d = NULL;
    nvmlReturn_t ret = device_call("nvmlDeviceGetSupportedEventTypes", device, &d, NULL);
    if (ret == NVML_SUCCESS) {
        if (types == NULL) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            *types = H200_EVENT_TYPES;
        }
    }
    return leave(ret);
}

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    nvmlReturn_t ret = enter("nvmlEventSetCreate");
    if (ret == NVML_SUCCESS) {
        if (set == NULL) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            event_set.registered = 0;
            *set = &event_set;
        }
    }
    return leave(ret);
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types,
                                      nvmlEventSet_t set)
{
    struct script_device *d = NULL;
    nvmlReturn_t ret = device_call("nvmlDeviceRegisterEvents", device, &d, NULL);
    if (ret == NVML_SUCCESS) {
        if (set != &event_set || (types & ~H200_EVENT_TYPES) != 0) {
            ret = NVML_ERROR_NOT_SUPPORTED;
        } else {
            event_set.registered = 1;
        }
    }
    return leave(ret);
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    nvmlReturn_t ret = enter("nvmlEventSetFree");
    if (ret == NVML_SUCCESS && set != &event_set) {
        ret = NVML_ERROR_INVALID_ARGUMENT;
    }
    if (ret == NVML_SUCCESS) {
        event_set.registered = 0;
    }
    return leave(ret);
}

/* Delivers the next scripted XID event, waiting for one up to `timeout_ms`. */
nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeout_ms)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        nvmlReturn_t ret = enter("nvmlEventSetWait_v2");
        if (ret == NVML_SUCCESS && (set != &event_set || data == NULL)) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        }
        if (ret != NVML_SUCCESS) {
            return leave(ret);
        }
        if (event_set.registered && xids_delivered < world.xids_len) {
            const struct script_xid *x = &world.xids[xids_delivered];
            if (x->device >= world.devices_len || x->device >= MAX_DEVICES) {
                return leave(NVML_ERROR_UNKNOWN);
            }
            handles[x->device].index = x->device;
            data->device = &handles[x->device];
            data->eventType = XID_CRITICAL_ERROR;
            data->eventData = x->code;
            data->gpuInstanceId = 0xFFFFFFFFu;
            data->computeInstanceId = 0xFFFFFFFFu;
            xids_delivered++;
            return leave(NVML_SUCCESS);
        }
        leave(NVML_SUCCESS);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long waited = (long long)(now.tv_sec - start.tv_sec) * 1000
                           + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited >= (long long)timeout_ms) {
            return NVML_ERROR_TIMEOUT;
        }
        struct timespec slice = {0, 20 * 1000 * 1000};
        while (nanosleep(&slice, &slice) != 0 && errno == EINTR) {
        }
    }
}
