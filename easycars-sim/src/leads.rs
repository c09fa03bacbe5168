//! The Lead API: request validation (required fields, max lengths, enum ranges, the
//! CustomerNo-or-Name+Email rule) and the in-memory lead, customer and quotation store.
//!
//! Request keys are matched case-insensitively (WCF-style). Validation messages are free-form
//! (the documentation gives only the shape), e.g. `"VehicleMake is required."`.

use easycars_api::stock_fields::is_dd_mm_yyyy;
use easycars_api::wire::{
    Contact, ExtraType, FinanceStatus, LeadStatus, PaymentMethod, Rating, VehicleInterest,
    VehicleType,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// A JSON object with case-insensitive key lookup and validating getters.
pub struct Obj<'a> {
    map: HashMap<String, &'a Value>,
    prefix: String,
}

/// Validation result: `Err` holds the `ErrorMessage` of a Code 7 answer.
pub type V<T> = Result<T, String>;

impl<'a> Obj<'a> {
    /// Wrap an object (`None` for any other JSON value).
    pub fn new(v: &'a Value, prefix: &str) -> Option<Self> {
        let m = v.as_object()?;
        Some(Obj {
            map: m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
            prefix: prefix.to_string(),
        })
    }

    fn path(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map
            .get(&name.to_ascii_lowercase())
            .copied()
            .filter(|v| !v.is_null())
    }

    /// Whether the key is present (even as null).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(&name.to_ascii_lowercase())
    }

    fn required(&self, name: &str) -> String {
        format!("{} is required.", self.path(name))
    }

    fn invalid(&self, name: &str) -> String {
        format!("{} is invalid.", self.path(name))
    }

    /// A string of at most `max` characters; `""` counts as missing when required.
    pub fn str(&self, name: &str, max: Option<usize>, required: bool) -> V<Option<String>> {
        let s = match self.get(name) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(self.invalid(name)),
        };
        if required && s.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(self.required(name));
        }
        if let (Some(s), Some(max)) = (&s, max) {
            if s.chars().count() > max {
                return Err(format!(
                    "{} must not exceed {max} characters.",
                    self.path(name)
                ));
            }
        }
        Ok(s)
    }

    /// A required string.
    pub fn req_str(&self, name: &str, max: Option<usize>) -> V<String> {
        Ok(self.str(name, max, true)?.unwrap_or_default())
    }

    /// An integer.
    pub fn int(&self, name: &str, required: bool) -> V<Option<i64>> {
        match self.get(name) {
            None if required => Err(self.required(name)),
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| self.invalid(name)),
        }
    }

    /// A number.
    pub fn num(&self, name: &str, required: bool) -> V<Option<f64>> {
        match self.get(name) {
            None if required => Err(self.required(name)),
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| self.invalid(name)),
        }
    }

    /// A boolean.
    pub fn boolean(&self, name: &str, required: bool) -> V<Option<bool>> {
        match self.get(name) {
            None if required => Err(self.required(name)),
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| self.invalid(name)),
        }
    }

    /// An enum code accepted by `valid`.
    pub fn code(&self, name: &str, required: bool, valid: fn(i32) -> bool) -> V<Option<i32>> {
        match self.int(name, required)? {
            None => Ok(None),
            Some(c) if i32::try_from(c).is_ok_and(valid) => Ok(Some(c as i32)),
            Some(c) => Err(format!("{} value {c} is invalid.", self.path(name))),
        }
    }

    /// A nested object.
    pub fn obj(&self, name: &str, required: bool) -> V<Option<Obj<'a>>> {
        match self.get(name) {
            None if required => Err(self.required(name)),
            None => Ok(None),
            Some(v) => Obj::new(v, &format!("{}.", self.path(name)))
                .map(Some)
                .ok_or_else(|| self.invalid(name)),
        }
    }

    /// An array of objects (missing → empty).
    pub fn arr(&self, name: &str) -> V<Vec<Obj<'a>>> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    Obj::new(v, &format!("{}[{i}].", self.path(name)))
                        .ok_or_else(|| format!("{}[{i}] is invalid.", self.path(name)))
                })
                .collect(),
            Some(_) => Err(self.invalid(name)),
        }
    }

    /// A required `dd/MM/yyyy` date.
    pub fn date(&self, name: &str, required: bool) -> V<Option<String>> {
        let s = self.str(name, None, required)?;
        match s {
            Some(s) if !is_dd_mm_yyyy(&s) => Err(format!(
                "{} must be a date in dd/MM/yyyy format.",
                self.path(name)
            )),
            other => Ok(other),
        }
    }
}

fn vt(c: i32) -> bool {
    VehicleType::from_code(c).is_some()
}
fn vi(c: i32) -> bool {
    VehicleInterest::from_code(c).is_some()
}
fn fs(c: i32) -> bool {
    FinanceStatus::from_code(c).is_some()
}
fn rt(c: i32) -> bool {
    Rating::from_code(c).is_some()
}
fn ls(c: i32) -> bool {
    LeadStatus::from_code(c).is_some()
}
fn pm(c: i32) -> bool {
    PaymentMethod::from_code(c).is_some()
}
fn et(c: i32) -> bool {
    ExtraType::from_code(c).is_some()
}

/// A validated `CustomerModel`.
#[derive(Debug, Clone, Default)]
pub struct CustomerIn {
    customer_no: Option<String>,
    fields: Vec<(&'static str, String)>,
}

impl CustomerIn {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

const CUSTOMER_FIELDS: &[(&str, Option<usize>)] = &[
    ("Name", Some(100)),
    ("Email", Some(100)),
    ("Address", Some(200)),
    ("City", Some(50)),
    ("State", None),
    ("PostCode", Some(10)),
    ("Fax", Some(20)),
    ("Phone", Some(20)),
    ("Mobile", Some(20)),
];

/// Validate a `CustomerModel` (lengths and the CustomerNo-or-Name+Email rule).
pub fn customer(o: &Obj) -> V<CustomerIn> {
    let customer_no = o.str("CustomerNo", Some(20), false)?;
    let mut fields = Vec::new();
    for (name, max) in CUSTOMER_FIELDS {
        if let Some(v) = o.str(name, *max, false)? {
            fields.push((*name, v));
        }
    }
    let c = CustomerIn {
        customer_no: customer_no.filter(|s| !s.trim().is_empty()),
        fields,
    };
    let has = |k: &str| c.field(k).is_some_and(|s| !s.trim().is_empty());
    if c.customer_no.is_none() && !(has("Name") && has("Email")) {
        let p = o.prefix.trim_end_matches('.');
        return Err(format!(
            "{p} requires either CustomerNo or both Name and Email."
        ));
    }
    Ok(c)
}

/// A stored customer.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Account it belongs to.
    pub account: String,
    /// 5-digit number.
    pub no: String,
    /// Name, Email, Address, City, State, PostCode, Fax, Phone, Mobile.
    pub fields: BTreeMap<&'static str, String>,
}

impl Customer {
    fn get(&self, k: &str) -> String {
        self.fields.get(k).cloned().unwrap_or_default()
    }

    /// As a SearchContacts contact.
    pub fn contact(&self) -> Contact {
        Contact {
            customer_no: Some(self.no.clone()),
            name: Some(self.get("Name")),
            email: Some(self.get("Email")),
            phone: Some(self.get("Phone")),
            mobile: Some(self.get("Mobile")),
            address: Some(self.get("Address")),
            city: Some(self.get("City")),
            state: Some(self.get("State")),
            post_code: Some(self.get("PostCode")),
            country: Some(self.get("Country")),
            abn: Some(self.get("ABN")),
        }
    }
}

/// A stored lead.
#[derive(Debug, Clone)]
pub struct Lead {
    /// 6-digit number.
    pub number: String,
    /// Account.
    pub account: String,
    /// ClientID of the token that created it (its "lead source").
    pub client_id: String,
    /// StockNumber as sent.
    pub stock_number_sent: Option<String>,
    /// Linked to existing stock at creation.
    pub linked: bool,
    /// VehicleMake.
    pub make: String,
    /// VehicleModel.
    pub model: String,
    /// VehiclePrice.
    pub price: Option<f64>,
    /// VehicleType.
    pub vehicle_type: i32,
    /// VehicleYear.
    pub year: i64,
    /// IsVehicleNew.
    pub is_new: bool,
    /// VehicleInterest.
    pub interest: i32,
    /// Notes.
    pub notes: Option<String>,
    /// VehicleSourcePageURL.
    pub url: Option<String>,
    /// FinanceStatus.
    pub finance: Option<i32>,
    /// Rating.
    pub rating: Option<i32>,
    /// ExternalID.
    pub external_id: Option<String>,
    /// Sydney `dd/MM/yyyy HH:mm:ss`.
    pub created: String,
    /// Customer.
    pub customer_no: String,
    /// LeadStatus (10 on creation).
    pub status: i32,
    /// Number of successful UpdateLead calls.
    pub updates: u32,
}

/// Per-ExternalID CreateLead call counts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExternalCount {
    /// CreateLead calls carrying this ExternalID (any outcome).
    pub received: u32,
    /// Leads created with it.
    pub created: u32,
    /// Their lead numbers.
    pub lead_numbers: Vec<String>,
}

/// All lead state.
#[derive(Debug, Default)]
pub struct LeadStore {
    next_lead: u32,
    next_customer: u32,
    next_quote: u32,
    /// Leads by number.
    pub leads: BTreeMap<String, Lead>,
    /// Customers.
    pub customers: Vec<Customer>,
    /// Quotations as received (secrets redacted) plus their numbers.
    pub quotations: Vec<Value>,
    /// CreateLead calls per ExternalID.
    pub external: BTreeMap<String, ExternalCount>,
    /// CreateLead calls received in total.
    pub create_calls: u64,
}

/// Data of a CreateLead call, validated.
pub struct NewLead {
    stock_number: Option<String>,
    make: String,
    model: String,
    price: Option<f64>,
    vehicle_type: i32,
    year: i64,
    is_new: bool,
    interest: i32,
    notes: Option<String>,
    url: Option<String>,
    finance: Option<i32>,
    rating: Option<i32>,
    external_id: Option<String>,
    customer: CustomerIn,
}

/// Validate a CreateLead body (account fields are checked by the caller).
pub fn validate_create(o: &Obj) -> V<NewLead> {
    Ok(NewLead {
        stock_number: o.str("StockNumber", Some(20), false)?,
        make: o.req_str("VehicleMake", Some(100))?,
        model: o.req_str("VehicleModel", Some(50))?,
        price: o.num("VehiclePrice", false)?,
        vehicle_type: o.code("VehicleType", true, vt)?.unwrap_or_default(),
        year: o.int("VehicleYear", true)?.unwrap_or_default(),
        is_new: o.boolean("IsVehicleNew", true)?.unwrap_or_default(),
        interest: o.code("VehicleInterest", true, vi)?.unwrap_or_default(),
        notes: o.str("Notes", None, false)?,
        url: o.str("VehicleSourcePageURL", Some(400), false)?,
        finance: o.code("FinanceStatus", false, fs)?,
        rating: o.code("Rating", false, rt)?,
        external_id: o.str("ExternalID", Some(50), false)?,
        customer: match o.obj("LeadCustomer", true)? {
            Some(c) => customer(&c)?,
            None => return Err("LeadCustomer is required.".into()),
        },
    })
}

/// Data of an UpdateLead call, validated: only present fields.
pub struct LeadPatch {
    number: String,
    price: Option<f64>,
    interest: Option<i32>,
    notes: Option<String>,
    url: Option<String>,
    finance: Option<i32>,
    rating: Option<i32>,
    status: Option<i32>,
    customer: Option<CustomerIn>,
}

/// Validate an UpdateLead body.
pub fn validate_update(o: &Obj) -> V<LeadPatch> {
    Ok(LeadPatch {
        number: o.req_str("LeadNumber", Some(20))?,
        price: o.num("VehiclePrice", false)?,
        interest: o.code("VehicleInterest", false, vi)?,
        notes: o.str("Notes", None, false)?,
        url: o.str("VehicleSourcePageURL", Some(400), false)?,
        finance: o.code("FinanceStatus", false, fs)?,
        rating: o.code("Rating", false, rt)?,
        status: o.code("LeadStatus", false, ls)?,
        customer: match o.obj("LeadCustomer", false)? {
            Some(c) => Some(customer(&c)?),
            None => None,
        },
    })
}

impl LeadStore {
    /// Resolve (and update) or create the customer of a request. Fails only for an unknown
    /// CustomerNo.
    fn resolve_customer(&mut self, account: &str, c: &CustomerIn, dry_run: bool) -> V<String> {
        let idx = match &c.customer_no {
            Some(no) => Some(
                self.customers
                    .iter()
                    .position(|k| k.account == account && &k.no == no)
                    .ok_or_else(|| format!("Customer {no} was not found."))?,
            ),
            None => {
                let name = c.field("Name").unwrap_or_default().trim().to_lowercase();
                let email = c.field("Email").unwrap_or_default().trim().to_lowercase();
                self.customers.iter().position(|k| {
                    k.account == account
                        && k.get("Name").trim().to_lowercase() == name
                        && k.get("Email").trim().to_lowercase() == email
                })
            }
        };
        if dry_run {
            return Ok(String::new());
        }
        let i = match idx {
            Some(i) => i,
            None => {
                self.next_customer += 1;
                self.customers.push(Customer {
                    account: account.to_string(),
                    no: format!("{:05}", self.next_customer),
                    fields: BTreeMap::new(),
                });
                self.customers.len() - 1
            }
        };
        let cust = &mut self.customers[i];
        for (k, v) in &c.fields {
            cust.fields.insert(k, v.clone());
        }
        Ok(cust.no.clone())
    }

    /// Count a CreateLead call (any outcome) for `/_sim/leads`.
    pub fn note_create_call(&mut self, external_id: Option<&str>) {
        self.create_calls += 1;
        if let Some(e) = external_id {
            self.external.entry(e.to_string()).or_default().received += 1;
        }
    }

    /// Create a lead. `stock_exists` says whether the account has the StockNumber.
    pub fn create(
        &mut self,
        account: &str,
        client_id: &str,
        n: NewLead,
        stock_exists: bool,
        created: String,
    ) -> V<(String, String)> {
        self.resolve_customer(account, &n.customer, true)?;
        let customer_no = self.resolve_customer(account, &n.customer, false)?;
        self.next_lead += 1;
        let number = format!("{:06}", self.next_lead);
        if let Some(e) = &n.external_id {
            let x = self.external.entry(e.clone()).or_default();
            x.created += 1;
            x.lead_numbers.push(number.clone());
        }
        self.leads.insert(
            number.clone(),
            Lead {
                number: number.clone(),
                account: account.to_string(),
                client_id: client_id.to_string(),
                linked: stock_exists && n.stock_number.is_some(),
                stock_number_sent: n.stock_number,
                make: n.make,
                model: n.model,
                price: n.price,
                vehicle_type: n.vehicle_type,
                year: n.year,
                is_new: n.is_new,
                interest: n.interest,
                notes: n.notes,
                url: n.url,
                finance: n.finance,
                rating: n.rating,
                external_id: n.external_id,
                created,
                customer_no: customer_no.clone(),
                status: LeadStatus::New.code(),
                updates: 0,
            },
        );
        Ok((number, customer_no))
    }

    fn visible(&self, account: &str, client_id: &str, number: &str) -> V<&Lead> {
        self.leads
            .get(number)
            .filter(|l| l.account == account && l.client_id == client_id)
            .ok_or_else(|| format!("Lead {number} was not found."))
    }

    /// Apply an UpdateLead.
    pub fn update(&mut self, account: &str, client_id: &str, p: LeadPatch) -> V<(String, String)> {
        let lead = self.visible(account, client_id, &p.number)?;
        if lead.status == LeadStatus::Deleted.code()
            && p.status.is_some_and(|s| s != LeadStatus::Deleted.code())
        {
            return Err(format!(
                "Lead {} is deleted and cannot be reactivated.",
                p.number
            ));
        }
        let customer_no = match &p.customer {
            Some(c) => {
                self.resolve_customer(account, c, true)?;
                Some(self.resolve_customer(account, c, false)?)
            }
            None => None,
        };
        let Some(lead) = self.leads.get_mut(&p.number) else {
            return Err(format!("Lead {} was not found.", p.number));
        };
        if let Some(v) = p.price {
            lead.price = Some(v);
        }
        if let Some(v) = p.interest {
            lead.interest = v;
        }
        if let Some(v) = p.notes {
            lead.notes = Some(v);
        }
        if let Some(v) = p.url {
            lead.url = Some(v);
        }
        if let Some(v) = p.finance {
            lead.finance = Some(v);
        }
        if let Some(v) = p.rating {
            lead.rating = Some(v);
        }
        if let Some(v) = p.status {
            lead.status = v;
        }
        if let Some(c) = customer_no {
            lead.customer_no = c;
        }
        lead.updates += 1;
        Ok((lead.number.clone(), lead.customer_no.clone()))
    }

    fn customer_of(&self, account: &str, no: &str) -> Option<&Customer> {
        self.customers
            .iter()
            .find(|c| c.account == account && c.no == no)
    }

    /// GetLeadDetail as ordered `(key, raw JSON)` pairs (VehiclePrice has four decimals).
    pub fn detail(
        &self,
        account: &str,
        client_id: &str,
        number: &str,
        include_status: bool,
    ) -> V<Vec<(&'static str, String)>> {
        let l = self.visible(account, client_id, number)?;
        let c = self.customer_of(account, &l.customer_no);
        let cf = |k: &str| c.map(|c| c.get(k)).unwrap_or_default();
        let j = |v: Value| v.to_string();
        let mut out = vec![
            ("LeadNumber", j(json!(l.number))),
            (
                "StockNumber",
                j(json!(if l.linked {
                    l.stock_number_sent.clone()
                } else {
                    None
                })),
            ),
            ("VehicleMake", j(json!(l.make))),
            ("VehicleModel", j(json!(l.model))),
            (
                "VehiclePrice",
                l.price
                    .map(|p| format!("{p:.4}"))
                    .unwrap_or_else(|| "null".into()),
            ),
            ("VehicleType", j(json!(l.vehicle_type))),
            ("VehicleYear", j(json!(l.year))),
            ("IsVehicleNew", j(json!(l.is_new))),
            ("VehicleInterest", j(json!(l.interest))),
            ("Notes", j(json!(l.notes))),
            ("VehicleSourcePageURL", j(json!(l.url))),
            ("FinanceStatus", j(json!(l.finance))),
            ("Rating", j(json!(l.rating))),
            ("ExternalID", j(json!(l.external_id))),
            ("CreatedDateTime", j(json!(l.created))),
            ("CustomerNo", j(json!(l.customer_no))),
            ("CustomerName", j(json!(cf("Name")))),
            ("CustomerEmail", j(json!(cf("Email")))),
            ("CustomerAddress", j(json!(cf("Address")))),
            ("CustomerCity", j(json!(cf("City")))),
            ("CustomerState", j(json!(cf("State")))),
            ("CustomerPostCode", j(json!(cf("PostCode")))),
            ("CustomerFax", j(json!(cf("Fax")))),
            ("CustomerPhone", j(json!(cf("Phone")))),
            ("CustomerMobile", j(json!(cf("Mobile")))),
        ];
        if include_status {
            out.push(("LeadStatus", j(json!(l.status))));
        }
        Ok(out)
    }

    /// SearchContacts: Name substring (case-insensitive), Email exact (case-insensitive),
    /// Phone exact against Phone or Mobile; criteria combine with AND.
    pub fn search(&self, account: &str, o: &Obj) -> V<Vec<Contact>> {
        let name = o.str("Name", Some(100), false)?.filter(|s| !s.is_empty());
        let email = o.str("Email", Some(100), false)?.filter(|s| !s.is_empty());
        let phone = o.str("Phone", Some(20), false)?.filter(|s| !s.is_empty());
        if name.is_none() && email.is_none() && phone.is_none() {
            return Err("At least one of Name, Email or Phone is required.".into());
        }
        let name = name.map(|n| n.to_lowercase());
        Ok(self
            .customers
            .iter()
            .filter(|c| c.account == account)
            .filter(|c| {
                name.as_ref()
                    .is_none_or(|n| c.get("Name").to_lowercase().contains(n.as_str()))
            })
            .filter(|c| {
                email
                    .as_ref()
                    .is_none_or(|e| c.get("Email").eq_ignore_ascii_case(e))
            })
            .filter(|c| {
                phone
                    .as_ref()
                    .is_none_or(|p| &c.get("Phone") == p || &c.get("Mobile") == p)
            })
            .map(Customer::contact)
            .collect())
    }

    /// Validate and store a CreateQuotation; returns (QuoteNumber, CustomerNo1, CustomerNo2).
    pub fn quotation(
        &mut self,
        account: &str,
        client_id: &str,
        yards: &[String],
        o: &Obj,
        mut record: Value,
    ) -> V<(String, String, Option<String>)> {
        let yard = o.req_str("YardCode", None)?;
        if !yards.contains(&yard) {
            return Err(format!("YardCode {yard} was not found."));
        }
        if let Some(lead) = o
            .str("LeadNumber", Some(20), false)?
            .filter(|s| !s.is_empty())
        {
            self.visible(account, client_id, &lead)?;
        }
        o.str("StockNumber", Some(20), false)?;
        o.req_str("VehicleMake", Some(100))?;
        o.req_str("VehicleModel", Some(50))?;
        o.code("VehicleType", true, vt)?;
        o.boolean("IsVehicleNew", true)?;
        o.int("VehicleYear", true)?;
        for (k, max) in [
            ("Series", 30),
            ("SeriesModelYear", 30),
            ("Badge", 65),
            ("BadgeSecondary", 50),
            ("Body", 50),
            ("Colour", 50),
            ("GearType", 50),
            ("InteriorColour", 50),
            ("SpecialConditions", 1000),
            ("FinanceNote", 1000),
        ] {
            o.str(k, Some(max), false)?;
        }
        o.date("QuoteDate", true)?;
        o.num("BasePrice", true)?;
        o.num("SellingPrice", true)?;
        o.num("Discount", false)?;
        o.num("TaxRate", false)?;
        for k in ["IsCalcGovCharges", "IsIGCPrice", "IsCommercial"] {
            o.boolean(k, false)?;
        }
        o.req_str("RegoState", Some(3))?;
        let c1 = match o.obj("QuotationCustomer1", true)? {
            Some(c) => customer(&c)?,
            None => return Err("QuotationCustomer1 is required.".into()),
        };
        let c2 = match o.obj("QuotationCustomer2", false)? {
            Some(c) => Some(customer(&c)?),
            None => None,
        };
        if let Some(fc) = o.obj("FinanceCompany", false)? {
            fc.req_str("Name", Some(100))?;
            fc.req_str("ABN", Some(20))?;
            for (name, max) in CUSTOMER_FIELDS.iter().skip(1) {
                fc.str(name, *max, false)?;
            }
        }
        for r in o.arr("QuotationReceipts")? {
            r.num("Amount", true)?;
            r.date("ReceiveDate", true)?;
            r.code("PaymentMethod", true, pm)?;
            r.req_str("Reference", Some(30))?;
            r.str("Description", Some(200), false)?;
        }
        for t in o.arr("QuotationTradeins")? {
            t.num("Allowance", true)?;
            t.req_str("Make", Some(100))?;
            t.req_str("Model", Some(50))?;
            t.code("VehicleType", true, vt)?;
            t.int("VehicleYear", true)?;
            for (k, max) in [
                ("Badge", 65),
                ("BadgeSecondary", 50),
                ("Body", 50),
                ("EngineNumber", 22),
                ("GearType", 50),
                ("RegoNum", 10),
                ("RegoState", 3),
                ("Series", 30),
                ("SeriesModelYear", 30),
                ("VIN", 20),
            ] {
                t.str(k, Some(max), false)?;
            }
            if let Some(b) = t.str("BuildDate", None, false)? {
                let ok = b.len() == 5
                    && b.as_bytes()[2] == b'/'
                    && b[..2].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
                    && b[3..].bytes().all(|c| c.is_ascii_digit());
                if !ok {
                    return Err(format!("{}BuildDate must be in MM/yy format.", t.prefix));
                }
            }
            t.num("FinancePayout", false)?;
            t.int("Odometer", false)?;
            t.boolean("IsCommercial", false)?;
        }
        for x in o.arr("QuotationExtras")? {
            x.code("ExtraType", true, et)?;
            x.num("Amount", true)?;
            x.num("TaxRate", false)?;
            x.str("Description", Some(200), false)?;
            x.num("Cost", false)?;
            for k in ["Dutiable", "LCTApply", "PriceIncluded"] {
                x.boolean(k, false)?;
            }
        }
        self.resolve_customer(account, &c1, true)?;
        if let Some(c2) = &c2 {
            self.resolve_customer(account, c2, true)?;
        }
        let no1 = self.resolve_customer(account, &c1, false)?;
        let no2 = match &c2 {
            Some(c2) => Some(self.resolve_customer(account, c2, false)?),
            None => None,
        };
        self.next_quote += 1;
        let q = format!("{:06}", self.next_quote);
        record["_QuoteNumber"] = json!(q);
        self.quotations.push(record);
        Ok((q, no1, no2))
    }

    /// Everything for `GET /_sim/leads`.
    pub fn dump(&self) -> Value {
        let leads: Vec<Value> = self
            .leads
            .values()
            .map(|l| {
                json!({
                    "LeadNumber": l.number, "AccountNumber": l.account, "ClientID": l.client_id,
                    "StockNumber": l.stock_number_sent, "LinkedToStock": l.linked,
                    "VehicleMake": l.make, "VehicleModel": l.model, "VehiclePrice": l.price,
                    "VehicleType": l.vehicle_type, "VehicleYear": l.year,
                    "IsVehicleNew": l.is_new, "VehicleInterest": l.interest, "Notes": l.notes,
                    "VehicleSourcePageURL": l.url, "FinanceStatus": l.finance,
                    "Rating": l.rating, "ExternalID": l.external_id,
                    "CreatedDateTime": l.created, "CustomerNo": l.customer_no,
                    "LeadStatus": l.status, "UpdateCount": l.updates,
                })
            })
            .collect();
        let customers: Vec<Value> = self
            .customers
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c.contact()).unwrap_or_default();
                v["AccountNumber"] = json!(c.account);
                v
            })
            .collect();
        json!({
            "leads": leads,
            "customers": customers,
            "quotations": self.quotations,
            "create_lead_calls": self.create_calls,
            "external_ids": self.external,
        })
    }
}
