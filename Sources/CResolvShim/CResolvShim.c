#include "CResolvShim.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>

int starling_srv_lookup(const char *name, char *buffer, int length) {
    unsigned char answer[8192];
    int size = res_query(name, ns_c_in, ns_t_srv, answer, sizeof(answer));
    if (size < 0) return 0;
    ns_msg message;
    if (ns_initparse(answer, size, &message) < 0) return -1;
    int count = 0;
    int used = 0;
    buffer[0] = 0;
    for (int index = 0; index < ns_msg_count(message, ns_s_an); index++) {
        ns_rr record;
        if (ns_parserr(&message, ns_s_an, index, &record) < 0) continue;
        if (ns_rr_type(record) != ns_t_srv || ns_rr_rdlen(record) < 7) continue;
        const unsigned char *data = ns_rr_rdata(record);
        unsigned int priority = ns_get16(data);
        unsigned int weight = ns_get16(data + 2);
        unsigned int port = ns_get16(data + 4);
        char target[NS_MAXDNAME];
        if (dn_expand(ns_msg_base(message), ns_msg_end(message), data + 6, target, sizeof(target)) < 0) continue;
        int written = snprintf(buffer + used, length - used, "%u %u %u %s\n", priority, weight, port, target);
        if (written < 0 || written >= length - used) break;
        used += written;
        count++;
    }
    return count;
}
