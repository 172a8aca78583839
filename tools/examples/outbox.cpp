// The transactional outbox: an application records a business change and the
// webhook event announcing it in ONE transaction of its own, so either both
// happen or neither does. webhookd delivers the event afterwards.
//
//   webhookctl --db shop.db init
//   webhookctl --db shop.db target add shop --url https://example.com/hook
//   outbox-example shop.db ord_1 4200          # commits order + event
//   outbox-example shop.db ord_2 100 --fail    # rolls back: no order, no event

#include <cstdlib>
#include <iostream>
#include <string>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "core/clock.h"
#include "storage/sqlite/outbox.h"

int main(int argc, char** argv)
{
    if (argc < 4) {
        std::cerr << "usage: outbox-example DB ORDER_ID AMOUNT_CENTS [--fail]\n";
        return 2;
    }
    const std::string path = argv[1], orderId = argv[2];
    const long amount = std::atol(argv[3]);
    const bool failAfter = argc > 4 && std::string(argv[4]) == "--fail";
    try {
        // The application's own connection, with its own table.
        SQLite::Database db(path, SQLite::OPEN_READWRITE, 5000);
        db.exec("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, amount_cents INTEGER NOT NULL)");

        SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement insert(db, "INSERT INTO orders (id, amount_cents) VALUES (?, ?)");
        insert.bind(1, orderId);
        insert.bind(2, static_cast<int64_t>(amount));
        insert.exec();

        webhookd::EventInput event;
        event.type = "order.created";
        event.payload = "{\"order\":\"" + orderId + "\",\"amount_cents\":" + std::to_string(amount) + "}";
        event.idempotencyKey = "order-created-" + orderId;
        auto sent = webhookd::sendInTransaction(db, event, webhookd::SystemClock::instance());
        if (!sent) {
            std::cerr << "outbox-example: " << sent.error().message() << ".\n";
            return 1; // the Transaction destructor rolls the order back too
        }
        if (failAfter) {
            std::cout << "failing on purpose after recording order and event " << sent->uid << "; both roll back\n";
            return 1;
        }
        tx.commit();
        std::cout << "order " << orderId << " and event " << sent->uid << " committed together, "
                  << sent->deliveryIds.size() << " deliveries queued\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "outbox-example: " << e.what() << '\n';
        return 1;
    }
}
