//! Lead API: every validation rule and enum bound (table-driven), partial updates, no
//! un-delete, visibility per ClientID, SearchContacts and CreateQuotation.

mod common;

use common::*;
use easycars_api::wire::{
    CreateLeadRequest, CustomerModel, FinanceStatus, LeadDetailResponse, LeadResponse, LeadStatus,
    Rating, SearchContactsResponse, UpdateLeadRequest, VehicleInterest, VehicleType,
};
use serde_json::{json, Value};

fn long(n: usize) -> String {
    "x".repeat(n)
}

fn valid_lead(sim: &Sim) -> Value {
    let d = sim.dealer(0);
    serde_json::to_value(CreateLeadRequest {
        account_number: d.account,
        account_secret: d.secret,
        stock_number: Some("U4471".into()),
        vehicle_make: "Toyota".into(),
        vehicle_model: "HiLux".into(),
        vehicle_price: Some(48990.0),
        vehicle_type: 1,
        vehicle_year: 2021,
        is_vehicle_new: false,
        vehicle_interest: 1,
        notes: Some("Is it still available?".into()),
        vehicle_source_page_url: Some("https://dealer.example/cars/u4471".into()),
        finance_status: Some(3),
        rating: Some(2),
        external_id: Some("web-8812".into()),
        lead_customer: CustomerModel {
            name: Some("Jo Citizen".into()),
            email: Some("jo@example.com".into()),
            mobile: Some("0400111222".into()),
            state: Some("NSW".into()),
            post_code: Some("2150".into()),
            ..Default::default()
        },
    })
    .unwrap()
}

/// Apply a JSON-pointer-ish edit: `"/A/B"` set to value, or removed when value is `null` and
/// `remove` is set.
fn edit(mut v: Value, path: &str, new: Option<Value>) -> Value {
    let (parent, key) = path.rsplit_once('/').unwrap();
    let obj = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).unwrap()
    };
    let obj = obj.as_object_mut().unwrap();
    match new {
        Some(n) => {
            obj.insert(key.to_string(), n);
        }
        None => {
            obj.remove(key);
        }
    }
    v
}

fn failed(msg: &str) -> Value {
    json!({"LeadNumber": null, "CustomerNo": null, "Code": 7, "ErrorMessage": msg})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_lead_validation_table() {
    let sim = start(cfg(1, 5)).await;
    let tok = sim.token(0).await;
    let base = valid_lead(&sim);
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        ("/AccountNumber", None, "AccountNumber is required."),
        (
            "/AccountNumber",
            Some(json!(long(21))),
            "AccountNumber must not exceed 20 characters.",
        ),
        ("/AccountSecret", None, "AccountSecret is required."),
        (
            "/AccountSecret",
            Some(json!(long(51))),
            "AccountSecret must not exceed 50 characters.",
        ),
        (
            "/StockNumber",
            Some(json!(long(21))),
            "StockNumber must not exceed 20 characters.",
        ),
        ("/VehicleMake", None, "VehicleMake is required."),
        ("/VehicleMake", Some(json!("")), "VehicleMake is required."),
        (
            "/VehicleMake",
            Some(Value::Null),
            "VehicleMake is required.",
        ),
        (
            "/VehicleMake",
            Some(json!(long(101))),
            "VehicleMake must not exceed 100 characters.",
        ),
        ("/VehicleMake", Some(json!(42)), "VehicleMake is invalid."),
        ("/VehicleModel", None, "VehicleModel is required."),
        (
            "/VehicleModel",
            Some(json!(long(51))),
            "VehicleModel must not exceed 50 characters.",
        ),
        (
            "/VehiclePrice",
            Some(json!("cheap")),
            "VehiclePrice is invalid.",
        ),
        ("/VehicleType", None, "VehicleType is required."),
        (
            "/VehicleType",
            Some(json!(0)),
            "VehicleType value 0 is invalid.",
        ),
        (
            "/VehicleType",
            Some(json!(7)),
            "VehicleType value 7 is invalid.",
        ),
        ("/VehicleType", Some(json!("1")), "VehicleType is invalid."),
        ("/VehicleYear", None, "VehicleYear is required."),
        (
            "/VehicleYear",
            Some(json!("2021")),
            "VehicleYear is invalid.",
        ),
        (
            "/VehicleYear",
            Some(json!(2021.5)),
            "VehicleYear is invalid.",
        ),
        ("/IsVehicleNew", None, "IsVehicleNew is required."),
        (
            "/IsVehicleNew",
            Some(json!("yes")),
            "IsVehicleNew is invalid.",
        ),
        ("/VehicleInterest", None, "VehicleInterest is required."),
        (
            "/VehicleInterest",
            Some(json!(0)),
            "VehicleInterest value 0 is invalid.",
        ),
        (
            "/VehicleInterest",
            Some(json!(6)),
            "VehicleInterest value 6 is invalid.",
        ),
        (
            "/VehicleSourcePageURL",
            Some(json!(long(401))),
            "VehicleSourcePageURL must not exceed 400 characters.",
        ),
        (
            "/FinanceStatus",
            Some(json!(0)),
            "FinanceStatus value 0 is invalid.",
        ),
        (
            "/FinanceStatus",
            Some(json!(4)),
            "FinanceStatus value 4 is invalid.",
        ),
        ("/Rating", Some(json!(0)), "Rating value 0 is invalid."),
        ("/Rating", Some(json!(4)), "Rating value 4 is invalid."),
        (
            "/ExternalID",
            Some(json!(long(51))),
            "ExternalID must not exceed 50 characters.",
        ),
        ("/LeadCustomer", None, "LeadCustomer is required."),
        (
            "/LeadCustomer",
            Some(json!("Jo")),
            "LeadCustomer is invalid.",
        ),
        (
            "/LeadCustomer/Email",
            None,
            "LeadCustomer requires either CustomerNo or both Name and Email.",
        ),
        (
            "/LeadCustomer/Name",
            None,
            "LeadCustomer requires either CustomerNo or both Name and Email.",
        ),
        (
            "/LeadCustomer/Name",
            Some(json!("  ")),
            "LeadCustomer requires either CustomerNo or both Name and Email.",
        ),
        (
            "/LeadCustomer/CustomerNo",
            Some(json!("99999")),
            "Customer 99999 was not found.",
        ),
        (
            "/LeadCustomer/CustomerNo",
            Some(json!(long(21))),
            "LeadCustomer.CustomerNo must not exceed 20 characters.",
        ),
        (
            "/LeadCustomer/Name",
            Some(json!(long(101))),
            "LeadCustomer.Name must not exceed 100 characters.",
        ),
        (
            "/LeadCustomer/Email",
            Some(json!(long(101))),
            "LeadCustomer.Email must not exceed 100 characters.",
        ),
        (
            "/LeadCustomer/Address",
            Some(json!(long(201))),
            "LeadCustomer.Address must not exceed 200 characters.",
        ),
        (
            "/LeadCustomer/City",
            Some(json!(long(51))),
            "LeadCustomer.City must not exceed 50 characters.",
        ),
        (
            "/LeadCustomer/PostCode",
            Some(json!(long(11))),
            "LeadCustomer.PostCode must not exceed 10 characters.",
        ),
        (
            "/LeadCustomer/Fax",
            Some(json!(long(21))),
            "LeadCustomer.Fax must not exceed 20 characters.",
        ),
        (
            "/LeadCustomer/Phone",
            Some(json!(long(21))),
            "LeadCustomer.Phone must not exceed 20 characters.",
        ),
        (
            "/LeadCustomer/Mobile",
            Some(json!(long(21))),
            "LeadCustomer.Mobile must not exceed 20 characters.",
        ),
    ];
    for (path, new, msg) in &cases {
        let body = edit(base.clone(), path, new.clone());
        let v = sim.lead("CreateLead", &tok, &body).await;
        assert_eq!(v, failed(msg), "{path} = {new:?}");
    }
    // Boundaries that pass: exact max lengths, every enum value, optional fields absent.
    let mut ok_cases: Vec<(String, Option<Value>)> = vec![
        ("/VehicleMake".into(), Some(json!(long(100)))),
        ("/VehicleModel".into(), Some(json!(long(50)))),
        ("/StockNumber".into(), Some(json!(long(20)))),
        ("/VehicleSourcePageURL".into(), Some(json!(long(400)))),
        ("/ExternalID".into(), Some(json!(long(50)))),
        ("/LeadCustomer/Name".into(), Some(json!(long(100)))),
        ("/LeadCustomer/PostCode".into(), Some(json!(long(10)))),
        ("/LeadCustomer/State".into(), Some(json!(long(60)))),
        ("/Notes".into(), Some(json!(long(5000)))),
        ("/VehiclePrice".into(), None),
        ("/FinanceStatus".into(), None),
        ("/Rating".into(), None),
        ("/StockNumber".into(), None),
        ("/ExternalID".into(), None),
    ];
    for t in VehicleType::ALL {
        ok_cases.push(("/VehicleType".into(), Some(json!(t.code()))));
    }
    for t in VehicleInterest::ALL {
        ok_cases.push(("/VehicleInterest".into(), Some(json!(t.code()))));
    }
    for t in FinanceStatus::ALL {
        ok_cases.push(("/FinanceStatus".into(), Some(json!(t.code()))));
    }
    for t in Rating::ALL {
        ok_cases.push(("/Rating".into(), Some(json!(t.code()))));
    }
    for (path, new) in &ok_cases {
        let body = edit(base.clone(), path, new.clone());
        let v: LeadResponse =
            serde_json::from_value(sim.lead("CreateLead", &tok, &body).await).unwrap();
        assert_eq!(
            (v.code, v.error_message.as_deref()),
            (0, None),
            "{path} = {new:?}"
        );
        let ln = v.lead_number.unwrap();
        assert!(
            ln.len() == 6 && ln.bytes().all(|b| b.is_ascii_digit()),
            "{ln}"
        );
        let cn = v.customer_no.unwrap();
        assert!(
            cn.len() == 5 && cn.bytes().all(|b| b.is_ascii_digit()),
            "{cn}"
        );
    }
    // Keys are case-insensitive on input.
    let lower: Value = serde_json::from_str(
        &serde_json::to_string(&base)
            .unwrap()
            .replace("\"VehicleMake\"", "\"vehiclemake\"")
            .replace("\"LeadCustomer\"", "\"leadCUSTOMER\""),
    )
    .unwrap();
    assert_eq!(sim.lead("CreateLead", &tok, &lower).await["Code"], 0);
    // Calls are counted per ExternalID (failed ones as received, not created).
    let leads = sim.ctl_get("/_sim/leads").await;
    let e = &leads["external_ids"]["web-8812"];
    assert!(e["received"].as_u64().unwrap() > e["created"].as_u64().unwrap());
    assert_eq!(
        leads["create_lead_calls"].as_u64().unwrap() as usize,
        cases.len() + ok_cases.len() + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_lifecycle_detail_and_updates() {
    let sim = start(cfg(2, 5)).await;
    let tok = sim.token(0).await;
    let d = sim.dealer(0);
    // Linked to stock only if the StockNumber exists.
    let stock = sim.stocks(0, &tok, None).await.stock_list;
    let real_sn = stock[0]["StockNumber"].as_str().unwrap().to_string();
    let mut body = valid_lead(&sim);
    body["StockNumber"] = json!(real_sn);
    let created: LeadResponse =
        serde_json::from_value(sim.lead("CreateLead", &tok, &body).await).unwrap();
    let ln = created.lead_number.clone().unwrap();
    let cn = created.customer_no.clone().unwrap();
    assert_eq!(created.code, 0);

    let get = json!({"AccountNumber": d.account, "AccountSecret": d.secret, "LeadNumber": ln});
    let raw = sim
        .post_raw(
            &sim.url("TestECService", "LeadService", "GetLeadDetail"),
            Some(&tok),
            serde_json::to_vec(&get).unwrap(),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains("\"VehiclePrice\":48990.0000"), "{raw}");
    let detail: LeadDetailResponse = serde_json::from_str(&raw).unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    // Same key set as the documented example response.
    let doc = json!({"LeadNumber":"000123","StockNumber":"U4471","VehicleMake":"Toyota","VehicleModel":"HiLux","VehiclePrice":48990.0,"VehicleType":1,"VehicleYear":2021,"IsVehicleNew":false,"VehicleInterest":1,"Notes":"Is it still available?","VehicleSourcePageURL":"https://dealer.example/cars/u4471","FinanceStatus":3,"Rating":3,"ExternalID":"web-8812","CreatedDateTime":"05/10/2025 14:03:27","CustomerNo":"00045","CustomerName":"Jo Citizen","CustomerEmail":"jo@example.com","CustomerAddress":"","CustomerCity":"","CustomerState":"NSW","CustomerPostCode":"2150","CustomerFax":"","CustomerPhone":"","CustomerMobile":"0400111222","Code":0,"ErrorMessage":null});
    let keyset = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(keyset(&v), keyset(&doc));
    assert!(v.get("LeadStatus").is_none());
    assert_eq!(detail.stock_number.as_deref(), Some(real_sn.as_str()));
    assert_eq!(detail.customer_no.as_deref(), Some(cn.as_str()));
    assert_eq!(
        (
            detail.customer_address.as_deref(),
            detail.customer_fax.as_deref()
        ),
        (Some(""), Some(""))
    );
    assert_eq!(detail.customer_state.as_deref(), Some("NSW"));
    assert_eq!(
        (detail.finance_status, detail.rating, detail.vehicle_type),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(detail.external_id.as_deref(), Some("web-8812"));
    let dt = detail.created_date_time.unwrap();
    let b = dt.as_bytes();
    assert!(
        dt.len() == 19
            && b[2] == b'/'
            && b[5] == b'/'
            && b[10] == b' '
            && b[13] == b':'
            && b[16] == b':',
        "{dt}"
    );
    // An unknown StockNumber is not linked.
    let other: LeadResponse =
        serde_json::from_value(sim.lead("CreateLead", &tok, &valid_lead(&sim)).await).unwrap();
    assert_eq!(
        other.customer_no.as_deref(),
        Some(cn.as_str()),
        "same Name+Email reuses the customer"
    );
    let g = sim.lead("GetLeadDetail", &tok, &json!({"AccountNumber": d.account, "AccountSecret": d.secret, "LeadNumber": other.lead_number})).await;
    assert_eq!(g["StockNumber"], Value::Null);

    // Partial update: only present fields change.
    let upd = |f: fn(&mut UpdateLeadRequest)| {
        let mut u = UpdateLeadRequest {
            account_number: d.account.clone(),
            account_secret: d.secret.clone(),
            lead_number: ln.clone(),
            ..Default::default()
        };
        f(&mut u);
        serde_json::to_value(u).unwrap()
    };
    let r = sim
        .lead(
            "UpdateLead",
            &tok,
            &upd(|u| {
                u.rating = Some(3);
                u.lead_status = Some(30);
            }),
        )
        .await;
    assert_eq!(
        r,
        json!({"LeadNumber": ln, "CustomerNo": cn, "Code": 0, "ErrorMessage": null})
    );
    let g = sim.lead("GetLeadDetail", &tok, &get).await;
    assert_eq!(
        (
            g["Rating"].clone(),
            g["Notes"].clone(),
            g["VehiclePrice"].clone()
        ),
        (json!(3), json!("Is it still available?"), json!(48990.0))
    );
    let r = sim
        .lead(
            "UpdateLead",
            &tok,
            &upd(|u| {
                u.notes = Some("Sold elsewhere".into());
                u.vehicle_price = Some(47000.5);
            }),
        )
        .await;
    assert_eq!(r["Code"], 0);
    let g = sim.lead("GetLeadDetail", &tok, &get).await;
    assert_eq!(
        (
            g["Rating"].clone(),
            g["Notes"].clone(),
            g["VehiclePrice"].clone()
        ),
        (json!(3), json!("Sold elsewhere"), json!(47000.5))
    );
    // Non-updatable fields are ignored.
    let mut ignored = upd(|_| {});
    ignored["VehicleMake"] = json!("Ford");
    assert_eq!(sim.lead("UpdateLead", &tok, &ignored).await["Code"], 0);
    assert_eq!(
        sim.lead("GetLeadDetail", &tok, &get).await["VehicleMake"],
        "Toyota"
    );
    // LeadCustomer on update: the rule applies; a new Name+Email makes a new customer.
    let r = sim
        .lead(
            "UpdateLead",
            &tok,
            &upd(|u| {
                u.lead_customer = Some(CustomerModel {
                    name: Some("Sam".into()),
                    ..Default::default()
                })
            }),
        )
        .await;
    assert_eq!(
        r,
        failed("LeadCustomer requires either CustomerNo or both Name and Email.")
    );
    let r = sim
        .lead(
            "UpdateLead",
            &tok,
            &upd(|u| {
                u.lead_customer = Some(CustomerModel {
                    name: Some("Sam Other".into()),
                    email: Some("sam@example.com".into()),
                    phone: Some("0299998888".into()),
                    ..Default::default()
                })
            }),
        )
        .await;
    assert_eq!(r["Code"], 0);
    assert_ne!(r["CustomerNo"], json!(cn));
    assert_eq!(
        sim.lead("GetLeadDetail", &tok, &get).await["CustomerPhone"],
        "0299998888"
    );

    // Update validation table.
    let update_cases: Vec<(Value, &str)> = vec![
        (
            edit(upd(|_| {}), "/LeadNumber", None),
            "LeadNumber is required.",
        ),
        (
            edit(upd(|_| {}), "/LeadNumber", Some(json!(long(21)))),
            "LeadNumber must not exceed 20 characters.",
        ),
        (
            edit(upd(|_| {}), "/LeadNumber", Some(json!("999999"))),
            "Lead 999999 was not found.",
        ),
        (
            upd(|u| u.lead_status = Some(20)),
            "LeadStatus value 20 is invalid.",
        ),
        (
            upd(|u| u.lead_status = Some(0)),
            "LeadStatus value 0 is invalid.",
        ),
        (
            upd(|u| u.lead_status = Some(91)),
            "LeadStatus value 91 is invalid.",
        ),
        (
            upd(|u| u.vehicle_interest = Some(6)),
            "VehicleInterest value 6 is invalid.",
        ),
        (
            upd(|u| u.finance_status = Some(4)),
            "FinanceStatus value 4 is invalid.",
        ),
        (upd(|u| u.rating = Some(0)), "Rating value 0 is invalid."),
        (
            upd(|u| u.vehicle_source_page_url = Some(long(401))),
            "VehicleSourcePageURL must not exceed 400 characters.",
        ),
        (
            upd(|u| {
                u.lead_customer = Some(CustomerModel {
                    customer_no: Some("77777".into()),
                    ..Default::default()
                })
            }),
            "Customer 77777 was not found.",
        ),
    ];
    for (body, msg) in &update_cases {
        assert_eq!(
            sim.lead("UpdateLead", &tok, body).await,
            failed(msg),
            "{body}"
        );
    }
    for s in LeadStatus::ALL
        .iter()
        .filter(|s| **s != LeadStatus::Deleted)
    {
        let code = s.code();
        let r = sim
            .lead(
                "UpdateLead",
                &tok,
                &edit(upd(|_| {}), "/LeadStatus", Some(json!(code))),
            )
            .await;
        assert_eq!(r["Code"], 0, "{code}");
    }
    // Deleted (90) cannot be reactivated; deleting again is fine.
    assert_eq!(
        sim.lead("UpdateLead", &tok, &upd(|u| u.lead_status = Some(90)))
            .await["Code"],
        0
    );
    for s in [10, 30, 50, 60] {
        let r = sim
            .lead(
                "UpdateLead",
                &tok,
                &edit(upd(|_| {}), "/LeadStatus", Some(json!(s))),
            )
            .await;
        assert_eq!(
            r,
            failed(&format!("Lead {ln} is deleted and cannot be reactivated."))
        );
    }
    assert_eq!(
        sim.lead("UpdateLead", &tok, &upd(|u| u.lead_status = Some(90)))
            .await["Code"],
        0
    );

    // LeadStatus appears only with the non-standard switch.
    sim.ctl_post("/_sim/config", json!({"include_lead_status": true}))
        .await;
    let g: LeadDetailResponse =
        serde_json::from_value(sim.lead("GetLeadDetail", &tok, &get).await).unwrap();
    assert_eq!(g.lead_status, Some(90));

    // Visibility: another integrator's token (lenient account check) does not see the lead.
    let tok1 = sim.token(1).await;
    let r = sim.lead("GetLeadDetail", &tok1, &get).await;
    assert_eq!(
        r,
        json!({"Code": 7, "ErrorMessage": format!("Lead {ln} was not found.")})
    );
    let r = sim
        .lead("UpdateLead", &tok1, &upd(|u| u.rating = Some(1)))
        .await;
    assert_eq!(r["Code"], 7);
    // Another account with its own token does not see it either.
    let d1 = sim.dealer(1);
    let r = sim
        .lead(
            "GetLeadDetail",
            &tok1,
            &json!({"AccountNumber": d1.account, "AccountSecret": d1.secret, "LeadNumber": ln}),
        )
        .await;
    assert_eq!(r["Code"], 7);
    // GetLeadDetail validation.
    let r = sim
        .lead(
            "GetLeadDetail",
            &tok,
            &json!({"AccountNumber": d.account, "AccountSecret": d.secret}),
        )
        .await;
    assert_eq!(
        r,
        json!({"Code": 7, "ErrorMessage": "LeadNumber is required."})
    );

    // The control view lists what was pushed.
    let leads = sim.ctl_get("/_sim/leads").await;
    let l = leads["leads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["LeadNumber"] == json!(ln))
        .unwrap();
    assert_eq!(
        (l["LeadStatus"].clone(), l["ExternalID"].clone()),
        (json!(90), json!("web-8812"))
    );
    assert_eq!(leads["external_ids"]["web-8812"]["created"], 2);
    sim.ctl_post("/_sim/reset", json!({})).await;
    assert_eq!(sim.ctl_get("/_sim/leads").await["leads"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_contacts() {
    let sim = start(cfg(2, 1)).await;
    let tok = sim.token(0).await;
    let d = sim.dealer(0);
    for (name, email, phone, mobile) in [
        ("Jo Citizen", "jo@example.com", "0299990000", "0400111222"),
        ("Joanne Smith", "joanne@example.com", "", "0400333444"),
        ("Sam Brown", "sam@example.com", "0400111222", ""),
    ] {
        let mut b = valid_lead(&sim);
        b["LeadCustomer"] = json!({"Name": name, "Email": email, "Phone": phone, "Mobile": mobile});
        assert_eq!(sim.lead("CreateLead", &tok, &b).await["Code"], 0);
    }
    let search = |extra: Value| {
        let mut b = json!({"AccountNumber": d.account, "AccountSecret": d.secret});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let names = |v: Value| -> Vec<String> {
        let r: SearchContactsResponse = serde_json::from_value(v).unwrap();
        assert_eq!(r.code, 0);
        r.contacts.into_iter().map(|c| c.name.unwrap()).collect()
    };
    assert_eq!(
        names(
            sim.lead("SearchContacts", &tok, &search(json!({"Name": "JO"})))
                .await
        ),
        vec!["Jo Citizen", "Joanne Smith"]
    );
    assert_eq!(
        names(
            sim.lead(
                "SearchContacts",
                &tok,
                &search(json!({"Email": "JO@example.com"}))
            )
            .await
        ),
        vec!["Jo Citizen"]
    );
    assert_eq!(
        names(
            sim.lead(
                "SearchContacts",
                &tok,
                &search(json!({"Email": "jo@example"}))
            )
            .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            sim.lead(
                "SearchContacts",
                &tok,
                &search(json!({"Phone": "0400111222"}))
            )
            .await
        ),
        vec!["Jo Citizen", "Sam Brown"]
    );
    assert_eq!(
        names(
            sim.lead("SearchContacts", &tok, &search(json!({"Phone": "0400111"})))
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            sim.lead(
                "SearchContacts",
                &tok,
                &search(json!({"Name": "jo", "Phone": "0400333444"}))
            )
            .await
        ),
        vec!["Joanne Smith"]
    );
    let full: SearchContactsResponse = serde_json::from_value(
        sim.lead("SearchContacts", &tok, &search(json!({"Name": "Sam"})))
            .await,
    )
    .unwrap();
    let c = &full.contacts[0];
    assert_eq!(
        (
            c.customer_no.as_ref().unwrap().len(),
            c.country.as_deref(),
            c.abn.as_deref()
        ),
        (5, Some(""), Some(""))
    );
    for (extra, msg) in [
        (
            json!({}),
            "At least one of Name, Email or Phone is required.",
        ),
        (
            json!({"Name": ""}),
            "At least one of Name, Email or Phone is required.",
        ),
        (
            json!({"Name": long(101)}),
            "Name must not exceed 100 characters.",
        ),
        (
            json!({"Email": long(101)}),
            "Email must not exceed 100 characters.",
        ),
        (
            json!({"Phone": long(21)}),
            "Phone must not exceed 20 characters.",
        ),
    ] {
        assert_eq!(
            sim.lead("SearchContacts", &tok, &search(extra)).await,
            json!({"Code": 7, "ErrorMessage": msg})
        );
    }
    // Contacts are per account.
    let d1 = sim.dealer(1);
    let r = sim
        .lead(
            "SearchContacts",
            &sim.token(1).await,
            &json!({"AccountNumber": d1.account, "AccountSecret": d1.secret, "Name": "jo"}),
        )
        .await;
    assert_eq!(r["Contacts"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_quotation_validation_table() {
    let sim = start(cfg(1, 1)).await;
    let tok = sim.token(0).await;
    let d = sim.dealer(0);
    let lead: LeadResponse =
        serde_json::from_value(sim.lead("CreateLead", &tok, &valid_lead(&sim)).await).unwrap();
    let base = json!({
        "AccountNumber": d.account, "AccountSecret": d.secret, "YardCode": "100",
        "LeadNumber": lead.lead_number, "StockNumber": "U4471", "VehicleMake": "Toyota", "VehicleModel": "HiLux",
        "VehicleType": 1, "IsVehicleNew": false, "VehicleYear": 2021, "QuoteDate": "05/10/2025",
        "BasePrice": 48990, "SellingPrice": 47990, "Discount": 1000, "RegoState": "NSW", "TaxRate": 0.1,
        "QuotationCustomer1": {"CustomerNo": lead.customer_no},
        "QuotationCustomer2": {"Name": "Alex Citizen", "Email": "alex@example.com"},
        "FinanceCompany": {"Name": "Big Bank", "ABN": "12345678901"},
        "QuotationReceipts": [{"Amount": 500, "ReceiveDate": "05/10/2025", "PaymentMethod": 2, "Reference": "DEP-1"}],
        "QuotationTradeins": [{"Allowance": 8000, "Make": "Mazda", "Model": "3", "VehicleType": 1, "VehicleYear": 2012, "BuildDate": "03/12", "VIN": "JM0BL10F100123456"}],
        "QuotationExtras": [{"ExtraType": 8, "Amount": 995}, {"ExtraType": 1, "Amount": 450, "Description": "Tinting", "LCTApply": false}]
    });
    let ok = sim.lead("CreateQuotation", &tok, &base).await;
    assert_eq!(ok["Code"], 0, "{ok}");
    assert_eq!(ok["QuoteNumber"], "000001");
    assert_eq!(ok["CustomerNo1"], json!(lead.customer_no));
    assert!(ok["CustomerNo2"].as_str().unwrap().len() == 5);
    let cases: Vec<(&str, Option<Value>, String)> = vec![
        ("/YardCode", None, "YardCode is required.".into()),
        (
            "/YardCode",
            Some(json!("999")),
            "YardCode 999 was not found.".into(),
        ),
        (
            "/LeadNumber",
            Some(json!("424242")),
            "Lead 424242 was not found.".into(),
        ),
        (
            "/StockNumber",
            Some(json!(long(21))),
            "StockNumber must not exceed 20 characters.".into(),
        ),
        ("/VehicleMake", None, "VehicleMake is required.".into()),
        (
            "/VehicleMake",
            Some(json!(long(101))),
            "VehicleMake must not exceed 100 characters.".into(),
        ),
        (
            "/VehicleModel",
            Some(json!(long(51))),
            "VehicleModel must not exceed 50 characters.".into(),
        ),
        (
            "/VehicleType",
            Some(json!(9)),
            "VehicleType value 9 is invalid.".into(),
        ),
        ("/IsVehicleNew", None, "IsVehicleNew is required.".into()),
        ("/VehicleYear", None, "VehicleYear is required.".into()),
        (
            "/Series",
            Some(json!(long(31))),
            "Series must not exceed 30 characters.".into(),
        ),
        (
            "/Badge",
            Some(json!(long(66))),
            "Badge must not exceed 65 characters.".into(),
        ),
        (
            "/SpecialConditions",
            Some(json!(long(1001))),
            "SpecialConditions must not exceed 1000 characters.".into(),
        ),
        ("/QuoteDate", None, "QuoteDate is required.".into()),
        (
            "/QuoteDate",
            Some(json!("2025-10-05")),
            "QuoteDate must be a date in dd/MM/yyyy format.".into(),
        ),
        ("/BasePrice", None, "BasePrice is required.".into()),
        (
            "/SellingPrice",
            Some(json!("lots")),
            "SellingPrice is invalid.".into(),
        ),
        ("/RegoState", None, "RegoState is required.".into()),
        (
            "/RegoState",
            Some(json!("NSWX")),
            "RegoState must not exceed 3 characters.".into(),
        ),
        (
            "/QuotationCustomer1",
            None,
            "QuotationCustomer1 is required.".into(),
        ),
        (
            "/QuotationCustomer1",
            Some(json!({"Name": "No Email"})),
            "QuotationCustomer1 requires either CustomerNo or both Name and Email.".into(),
        ),
        (
            "/QuotationCustomer2",
            Some(json!({"Email": "x@example.com"})),
            "QuotationCustomer2 requires either CustomerNo or both Name and Email.".into(),
        ),
        (
            "/FinanceCompany/ABN",
            None,
            "FinanceCompany.ABN is required.".into(),
        ),
        (
            "/FinanceCompany/Name",
            Some(json!(long(101))),
            "FinanceCompany.Name must not exceed 100 characters.".into(),
        ),
        (
            "/QuotationReceipts/0/PaymentMethod",
            Some(json!(7)),
            "QuotationReceipts[0].PaymentMethod value 7 is invalid.".into(),
        ),
        (
            "/QuotationReceipts/0/PaymentMethod",
            Some(json!(0)),
            "QuotationReceipts[0].PaymentMethod value 0 is invalid.".into(),
        ),
        (
            "/QuotationReceipts/0/Reference",
            Some(json!(long(31))),
            "QuotationReceipts[0].Reference must not exceed 30 characters.".into(),
        ),
        (
            "/QuotationReceipts/0/Amount",
            None,
            "QuotationReceipts[0].Amount is required.".into(),
        ),
        (
            "/QuotationReceipts/0/ReceiveDate",
            Some(json!("5/10/2025")),
            "QuotationReceipts[0].ReceiveDate must be a date in dd/MM/yyyy format.".into(),
        ),
        (
            "/QuotationReceipts/0/Description",
            Some(json!(long(201))),
            "QuotationReceipts[0].Description must not exceed 200 characters.".into(),
        ),
        (
            "/QuotationTradeins/0/Make",
            None,
            "QuotationTradeins[0].Make is required.".into(),
        ),
        (
            "/QuotationTradeins/0/Allowance",
            None,
            "QuotationTradeins[0].Allowance is required.".into(),
        ),
        (
            "/QuotationTradeins/0/VehicleType",
            Some(json!(0)),
            "QuotationTradeins[0].VehicleType value 0 is invalid.".into(),
        ),
        (
            "/QuotationTradeins/0/BuildDate",
            Some(json!("2012-03")),
            "QuotationTradeins[0].BuildDate must be in MM/yy format.".into(),
        ),
        (
            "/QuotationTradeins/0/VIN",
            Some(json!(long(21))),
            "QuotationTradeins[0].VIN must not exceed 20 characters.".into(),
        ),
        (
            "/QuotationTradeins/0/RegoNum",
            Some(json!(long(11))),
            "QuotationTradeins[0].RegoNum must not exceed 10 characters.".into(),
        ),
        (
            "/QuotationTradeins/0/EngineNumber",
            Some(json!(long(23))),
            "QuotationTradeins[0].EngineNumber must not exceed 22 characters.".into(),
        ),
        (
            "/QuotationExtras/0/ExtraType",
            Some(json!(2)),
            "QuotationExtras[0].ExtraType value 2 is invalid.".into(),
        ),
        (
            "/QuotationExtras/1/ExtraType",
            Some(json!(3)),
            "QuotationExtras[1].ExtraType value 3 is invalid.".into(),
        ),
        (
            "/QuotationExtras/0/Amount",
            None,
            "QuotationExtras[0].Amount is required.".into(),
        ),
    ];
    let qfail = |m: &str| json!({"QuoteNumber": null, "CustomerNo1": null, "CustomerNo2": null, "Code": 7, "ErrorMessage": m});
    for (path, new, msg) in &cases {
        let body = edit(base.clone(), path, new.clone());
        assert_eq!(
            sim.lead("CreateQuotation", &tok, &body).await,
            qfail(msg),
            "{path}"
        );
    }
    for pm in [1, 2, 3, 4, 5, 6, 9] {
        let body = edit(
            base.clone(),
            "/QuotationReceipts/0/PaymentMethod",
            Some(json!(pm)),
        );
        assert_eq!(
            sim.lead("CreateQuotation", &tok, &body).await["Code"],
            0,
            "PaymentMethod {pm}"
        );
    }
    for et in [1, 4, 5, 6, 7, 8, 9] {
        let body = edit(
            base.clone(),
            "/QuotationExtras/0/ExtraType",
            Some(json!(et)),
        );
        assert_eq!(
            sim.lead("CreateQuotation", &tok, &body).await["Code"],
            0,
            "ExtraType {et}"
        );
    }
    let quotes = &sim.ctl_get("/_sim/leads").await["quotations"];
    assert_eq!(quotes.as_array().unwrap().len(), 15);
    assert_eq!(quotes[0]["AccountSecret"], "***");
}
